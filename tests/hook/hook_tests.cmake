# Included from the top-level CMakeLists.txt (tests enabled): the hook library's tests.
#   test_hook (tests/test_hook.c, registered by WeftTests.cmake) gets the hook objects linked
#   in directly (this works under the sanitizers too, where LD_PRELOAD cannot be used) and
#   libcurl.
#   check_prog (tests/hook/check_prog.c) is built four ways and asserts weft_hook_check():
#     hook.check_absent     links libweft.a only                         -> 0 live
#     hook.check_linked     links libweft-hook.so and libweft.so         -> all live
#     hook.check_preload    links libweft.so only, run with LD_PRELOAD   -> all live
#     hook.check_link_order links libc before libweft-hook.so            -> 0 live, reason
#     hook.check_two_copies links libweft.a, hook preloaded (libweft.so) -> 0 live, reason
if(TARGET test_hook AND TARGET weft_hook_objects)
  weft_link_hook(test_hook)
  find_package(CURL QUIET)
  if(CURL_FOUND)
    target_link_libraries(test_hook PRIVATE CURL::libcurl)
    target_compile_definitions(test_hook PRIVATE WEFT_TEST_HAVE_CURL=1)
  endif()

  set(_src ${PROJECT_SOURCE_DIR}/tests/hook/check_prog.c)
  set(_dir ${PROJECT_BINARY_DIR}/tests)
  add_executable(hook_check_absent ${_src})
  target_link_libraries(hook_check_absent PRIVATE weft_static ${CMAKE_DL_LIBS})
  add_executable(hook_check_linked ${_src})
  target_link_libraries(hook_check_linked PRIVATE -Wl,--no-as-needed weft_hook weft
                        -Wl,--as-needed ${CMAKE_DL_LIBS})
  add_executable(hook_check_plain ${_src})
  target_link_libraries(hook_check_plain PRIVATE weft ${CMAKE_DL_LIBS})
  add_executable(hook_check_link_order ${_src})
  target_link_libraries(hook_check_link_order PRIVATE -Wl,--no-as-needed -lc weft_hook weft
                        -Wl,--as-needed ${CMAKE_DL_LIBS})
  foreach(t hook_check_absent hook_check_linked hook_check_plain hook_check_link_order)
    set_target_properties(${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${_dir})
    target_compile_definitions(${t} PRIVATE _GNU_SOURCE)
    target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  endforeach()
  add_test(NAME hook.check_absent COMMAND hook_check_absent 0 "not loaded")
  add_test(NAME hook.check_linked COMMAND hook_check_linked 20 "read: live")
  add_test(NAME hook.check_link_order COMMAND hook_check_link_order 0 "comes before the hook")
  set(_hook_tests hook.check_absent hook.check_linked hook.check_link_order)
  if(NOT WEFT_SANITIZER_FLAGS)
    # The sanitizer runtimes must come first in the lookup order: no LD_PRELOAD there.
    add_test(NAME hook.check_preload COMMAND hook_check_plain 20 "read: live")
    set_tests_properties(hook.check_preload PROPERTIES
      ENVIRONMENT "LD_PRELOAD=$<TARGET_FILE:weft_hook>")
    # A program with its own libweft.a and the hook preloaded with libweft.so: two copies.
    add_test(NAME hook.check_two_copies COMMAND hook_check_absent 0 "two copies of libweft")
    set_tests_properties(hook.check_two_copies PROPERTIES
      ENVIRONMENT "LD_PRELOAD=$<TARGET_FILE:weft_hook>")
    list(APPEND _hook_tests hook.check_preload hook.check_two_copies)
  endif()
  set_tests_properties(${_hook_tests} PROPERTIES TIMEOUT 60 LABELS hook)
endif()

# Included from the top-level CMakeLists.txt (tests enabled): the bad-input sweep.
#   tools/sweep reads the public headers and tests/sweep/cases.txt and generates
#   build/sweep/sweep_cases.c at build time (again whenever one of them changes), so
#   the sweep always covers the current header; tests/sweep/runner.h runs the cases.
#   ctest test `sweep` (label sweep). Not under ThreadSanitizer (it forks a child per case
#   from a process that may have threads; the ASan+UBSan build is the one that counts).
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND AND NOT WEFT_TSAN AND NOT CMAKE_CROSSCOMPILING)
  set(_dir ${PROJECT_SOURCE_DIR}/tests/sweep)
  set(_out ${PROJECT_BINARY_DIR}/sweep/sweep_cases.c)
  set(_in ${PROJECT_SOURCE_DIR}/include/weft.h ${PROJECT_SOURCE_DIR}/include/weft_hook.h
          ${PROJECT_SOURCE_DIR}/include/weft_session.h
          ${_dir}/cases.txt ${_dir}/known.txt)
  add_custom_command(OUTPUT ${_out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/sweep
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/sweep
            --header ${PROJECT_SOURCE_DIR}/include/weft.h
            --header ${PROJECT_SOURCE_DIR}/include/weft_hook.h
            --header ${PROJECT_SOURCE_DIR}/include/weft_session.h
            --cases ${_dir}/cases.txt --known ${_dir}/known.txt -o ${_out}
    DEPENDS ${_in} ${PROJECT_SOURCE_DIR}/tools/sweep
    COMMENT "tools/sweep: generating the bad-input sweep from weft.h")
  add_executable(sweep ${_out})
  set_target_properties(sweep PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  target_compile_definitions(sweep PRIVATE _GNU_SOURCE)
  target_include_directories(sweep PRIVATE ${_dir} ${PROJECT_SOURCE_DIR}/include)
  # Generated code: a cast of a bad value may not match a const qualifier exactly.
  target_compile_options(sweep PRIVATE -Wno-discarded-qualifiers -Wno-unused-parameter
                         -Wno-format-truncation)
  target_link_libraries(sweep PRIVATE weft_static m ${CMAKE_DL_LIBS})
  add_test(NAME sweep COMMAND sweep)
  set_tests_properties(sweep PROPERTIES TIMEOUT 600 LABELS sweep)

  # libweft-mpi's header, where it is built: its own cases file and program.
  if(TARGET weft_mpi_static)
    set(_mout ${PROJECT_BINARY_DIR}/sweep/sweep_mpi_cases.c)
    add_custom_command(OUTPUT ${_mout}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/sweep
      COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/sweep
              --header ${PROJECT_SOURCE_DIR}/include/weft_mpi.h
              --cases ${_dir}/cases_mpi.txt -o ${_mout}
      DEPENDS ${PROJECT_SOURCE_DIR}/include/weft_mpi.h ${_dir}/cases_mpi.txt
              ${PROJECT_SOURCE_DIR}/tools/sweep
      COMMENT "tools/sweep: generating the bad-input sweep from weft_mpi.h")
    add_executable(sweep_mpi ${_mout})
    set_target_properties(sweep_mpi PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
    target_compile_definitions(sweep_mpi PRIVATE _GNU_SOURCE SW_MPI=1)
    target_include_directories(sweep_mpi PRIVATE ${_dir} ${PROJECT_SOURCE_DIR}/include)
    target_compile_options(sweep_mpi PRIVATE -Wno-discarded-qualifiers -Wno-unused-parameter
                           -Wno-format-truncation)
    target_link_libraries(sweep_mpi PRIVATE weft_mpi_static m ${CMAKE_DL_LIBS})
    add_test(NAME sweep_mpi COMMAND sweep_mpi)
    set_tests_properties(sweep_mpi PROPERTIES TIMEOUT 300 LABELS "sweep;mpi")
  endif()
endif()

# Included from the top-level CMakeLists.txt when WEFT_TESTS is ON.
#
# For every tests/test_<area>.c: an executable test_<area> (linked against the static
# library, so tests may also call weft__ internals from src/), and one ctest test per line
# of the form `WEFT_TEST(name)` (at the start of a line), named <area>.<name>, running
# `test_<area> <name>` with a 60 s timeout and the label <area>.
#
# A case can get another timeout with a line `WEFT_TEST_TIMEOUT(name, seconds)` anywhere in
# its file (a comment is fine, e.g. `/* WEFT_TEST_TIMEOUT(million, 120) */`); the harness
# reads WEFT_TEST_TIMEOUT from the environment, which is set to match.

set(WEFT_TEST_DEFAULT_TIMEOUT 60 CACHE STRING "Default per-case test timeout (seconds)")
# Suites run a second time inside a worker group with forced migration.
set(WEFT_GROUP_AREAS coro chan sync queue)

file(GLOB WEFT_TEST_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/test_*.c)
foreach(src ${WEFT_TEST_SOURCES})
  get_filename_component(exe ${src} NAME_WE)        # test_chan
  string(REGEX REPLACE "^test_" "" area ${exe})     # chan
  add_executable(${exe} ${src})
  set_target_properties(${exe} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  target_compile_definitions(${exe} PRIVATE _GNU_SOURCE)
  target_include_directories(${exe} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${exe} PRIVATE weft_static)
  if(CMAKE_SIZEOF_VOID_P EQUAL 4)
    # CHECK_EQ compares through long long, pointers included: wider than a 32-bit pointer.
    target_compile_options(${exe} PRIVATE -Wno-pointer-to-int-cast)
  endif()

  # Editing a test file re-runs configure, so new cases are registered.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})

  file(STRINGS ${src} _timeouts REGEX "WEFT_TEST_TIMEOUT[ \t]*\\([ \t]*[A-Za-z0-9_]+[ \t]*,[ \t]*[0-9]+[ \t]*\\)")
  file(STRINGS ${src} _lines REGEX "^[ \t]*WEFT_TEST[ \t]*\\([ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*\\)")
  if(NOT _lines)
    message(WARNING "weft: ${src} has no WEFT_TEST(name) cases")
  endif()
  set(_seen "")
  foreach(line ${_lines})
    string(REGEX REPLACE "^[ \t]*WEFT_TEST[ \t]*\\([ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\\).*$" "\\1"
           name "${line}")
    if(name IN_LIST _seen)
      message(FATAL_ERROR "weft: ${src}: WEFT_TEST(${name}) is defined twice")
    endif()
    list(APPEND _seen ${name})
    set(timeout ${WEFT_TEST_DEFAULT_TIMEOUT})
    foreach(t ${_timeouts})
      if(t MATCHES "WEFT_TEST_TIMEOUT[ \t]*\\([ \t]*${name}[ \t]*,[ \t]*([0-9]+)[ \t]*\\)")
        set(timeout ${CMAKE_MATCH_1})
      endif()
    endforeach()
    add_test(NAME ${area}.${name} COMMAND ${exe} ${name})
    set_tests_properties(${area}.${name} PROPERTIES
      TIMEOUT ${timeout} LABELS ${area} ENVIRONMENT "WEFT_TEST_TIMEOUT=${timeout}"
      SKIP_RETURN_CODE 77)
    if(area IN_LIST WEFT_GROUP_AREAS)
      # The same case again as a coroutine of a worker group whose every wake-up
      # changes thread (tests/harness.h, WEFT_TEST_IN_GROUP).
      add_test(NAME group.${area}.${name} COMMAND ${exe} ${name})
      set_tests_properties(group.${area}.${name} PROPERTIES
        TIMEOUT ${timeout} LABELS "group"
        ENVIRONMENT "WEFT_TEST_TIMEOUT=${timeout};WEFT_TEST_IN_GROUP=1"
        SKIP_RETURN_CODE 77)
    endif()
  endforeach()
endforeach()

# The migration case again with link-time optimization over the library and the test
# together (a thread-local address cached across a call that changes thread is the
# classic bug, and LTO lets the compiler see across more calls): test_group_lto.
include(CheckIPOSupported)
check_ipo_supported(RESULT _weft_lto OUTPUT _weft_lto_why LANGUAGES C)
if(_weft_lto AND NOT WEFT_ASAN AND NOT WEFT_TSAN AND NOT CMAKE_CROSSCOMPILING)
  add_executable(test_group_lto ${PROJECT_SOURCE_DIR}/tests/test_group.c ${WEFT_SOURCES})
  set_target_properties(test_group_lto PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests
                        INTERPROCEDURAL_OPTIMIZATION ON)
  target_compile_definitions(test_group_lto PRIVATE _GNU_SOURCE WEFT_BUILDING=1
                             $<$<BOOL:${WEFT_UCONTEXT}>:WEFT_USE_UCONTEXT=1>
                             $<$<BOOL:${WEFT_HAVE_VALGRIND_H}>:WEFT_VALGRIND=1>)
  # -Wstringop-overflow: at link time GCC follows weft__waiter_begin(NULL, ...) into a
  # path where the caller has no scheduler, which no caller takes (they pass a waiter of
  # their own whenever they may have none), and warns about a store through NULL.
  target_compile_options(test_group_lto PRIVATE -O2 -Wno-stringop-overflow)
  target_link_options(test_group_lto PRIVATE -Wno-stringop-overflow)
  target_include_directories(test_group_lto PRIVATE ${PROJECT_SOURCE_DIR}/tests
                             ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(test_group_lto PRIVATE Threads::Threads ${WEFT_SYS_LIBS})
  foreach(_c group_errno_and_thread_after_a_million_migrating_parks
             group_pinned_coroutine_never_changes_thread)
    add_test(NAME group_lto.${_c} COMMAND test_group_lto ${_c})
    set_tests_properties(group_lto.${_c} PROPERTIES TIMEOUT 240 LABELS group
                         ENVIRONMENT "WEFT_TEST_TIMEOUT=240")
  endforeach()
endif()

# Install round trip: install this build into a temporary prefix, then build and run a
# program against it through pkg-config and through find_package(weft).
if(NOT CMAKE_CROSSCOMPILING)
  string(REPLACE ";" " " _san "${WEFT_SANITIZER_FLAGS}")
  add_test(NAME install.pkgconfig_and_cmake
           COMMAND sh ${PROJECT_SOURCE_DIR}/tests/install/run.sh ${PROJECT_BINARY_DIR})
  set_tests_properties(install.pkgconfig_and_cmake PROPERTIES
    TIMEOUT 180 LABELS install
    ENVIRONMENT "CC=${CMAKE_C_COMPILER};CMAKE=${CMAKE_COMMAND};WEFT_INSTALL_CFLAGS=${_san}")
endif()

# libweft-mpi's tests (tests/mpi/test_mpi.c): ctest tests mpi.<case>, label mpi, each
# running `test_mpi <case>`, which runs mpirun --oversubscribe -n 4 (see the file).
add_executable(test_mpi ${PROJECT_SOURCE_DIR}/tests/mpi/test_mpi.c)
set_target_properties(test_mpi PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
target_compile_definitions(test_mpi PRIVATE _GNU_SOURCE)
target_link_libraries(test_mpi PRIVATE weft_mpi_static)
foreach(case map local apply lifecycle options close_join names_differ names_missing
             killed_rank killed_owner user_init idle_cpu netns)
  add_test(NAME mpi.${case} COMMAND test_mpi ${case})
  set_tests_properties(mpi.${case} PROPERTIES TIMEOUT 300 LABELS mpi SKIP_RETURN_CODE 77
    ENVIRONMENT "WEFT_MPI_NETNS_SCRIPT=${PROJECT_SOURCE_DIR}/tests/mpi/netns.sh")
endforeach()

# io/uring tests beyond the contract tests: included by tests/io/CMakeLists.txt.
if(TARGET runnel_uring)
  runnel_add_test(io_uring_runtime_test LABELS io SOURCES uring_runtime_test.cc LIBS runnel_uring)
  runnel_add_test(io_uring_soak_test LABELS io TIMEOUT 600 SOURCES uring_soak_test.cc
                  LIBS runnel_uring)
  runnel_add_test(io_uring_drop_behind_test LABELS io SOURCES uring_drop_behind_test.cc
                  LIBS runnel_uring)
  runnel_add_test(io_uring_direct_append_test LABELS io SOURCES uring_direct_append_test.cc
                  LIBS runnel_uring)
endif()

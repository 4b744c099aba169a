edgecam_unit_test(test_backend SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_backend.c
  LIBS ec_backend LABELS "threaded" TIMEOUT 120)

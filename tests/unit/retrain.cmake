edgecam_unit_test(test_retrain SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_retrain.c
  LIBS ec_retrain ec_backend LABELS "threaded" TIMEOUT 300)
if(TARGET ec_bench)
  edgecam_unit_test(test_retrain_bench SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_retrain_bench.c
    LIBS ec_bench LABELS "threaded" TIMEOUT 300)
  target_include_directories(test_retrain_bench PRIVATE ${PROJECT_SOURCE_DIR})
endif()

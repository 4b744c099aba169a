edgecam_unit_test(test_retrain SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_retrain.c
  LIBS ec_retrain ec_backend LABELS "threaded" TIMEOUT 300)
# The bench section is built into this test too (bench/CMakeLists.txt links it into the CLI).
if(TARGET ec_synth)
  edgecam_unit_test(test_retrain_bench
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_retrain_bench.c ${PROJECT_SOURCE_DIR}/bench/bench_retrain.c
    LIBS ec_retrain ec_synth LABELS "threaded" TIMEOUT 300)
  target_include_directories(test_retrain_bench PRIVATE ${PROJECT_SOURCE_DIR})
endif()

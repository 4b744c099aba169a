# Gateway over real loopback HTTP: policies, retry, ejection/readmission, saturation, KServe.
edgecam_unit_test(test_gateway SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gateway.c
  LIBS ec_gateway ec_backend LABELS "threaded" TIMEOUT 120)
edgecam_unit_test(test_gateway_kserve SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gateway_kserve.c
  LIBS ec_gateway ec_backend LABELS "threaded" TIMEOUT 60)

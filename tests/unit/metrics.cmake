# Prometheus /metrics of the backend, gateway and edge over real loopback HTTP, checked
# against the text exposition format.
edgecam_unit_test(test_metrics SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_metrics.c
  LIBS ec_edge ec_gateway ec_backend ec_net LABELS "threaded" TIMEOUT 120)

# net: HTTP server/client over real loopback sockets, wire format, metrics.
edgecam_unit_test(test_net SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_net.c
  LIBS ec_net PkgConfig::CURL PkgConfig::CJSON LABELS "threaded" TIMEOUT 120)
edgecam_unit_test(test_net_wire SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_net_wire.c
  LIBS ec_net PkgConfig::CJSON TIMEOUT 60)

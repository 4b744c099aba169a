# Bad input: oversize/truncated uploads and bad JPEGs against the real inference server on
# loopback, bad configuration text, corrupt model files (tests/unit/test_bad_input.c).
edgecam_unit_test(test_bad_input SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bad_input.c
  LIBS ec_backend ec_config ec_video ec_nn ec_net LABELS "threaded" TIMEOUT 120)

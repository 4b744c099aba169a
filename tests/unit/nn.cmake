# test_nn runs tests/oracle/nn_oracle.py (Debian's /usr/bin/python3 with torch) as its reference.
edgecam_unit_test(test_nn SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_nn.c LIBS ec_nn TIMEOUT 300)
edgecam_unit_test(test_nn_detect SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_nn_detect.c LIBS ec_nn
                  LABELS "threaded" TIMEOUT 300)
# The committed models/ detectors, scored on held-out synthetic video.
if(TARGET ec_synth AND TARGET ec_eval)
  edgecam_unit_test(test_nn_models SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_nn_models.c
                    LIBS ec_nn ec_synth ec_eval TIMEOUT 300)
endif()

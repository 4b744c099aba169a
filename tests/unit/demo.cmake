# `edgecam demo` report pieces: percentiles, HTML/SVG escaping, clipped drawing, scoring stored
# rows against the synthetic ground truth, and a whole report written from a made-up run.
if(TARGET ec_demo)
  edgecam_unit_test(test_demo SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_demo.c
    LIBS ec_demo ec_eval ec_store ec_synth ec_video ec_config ec_core)
endif()

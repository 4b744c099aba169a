# MQTT detection events against a real mosquitto broker (Debian mosquitto) on loopback;
# built without libmosquitto, only the "built without MQTT" answer is checked.
if(TARGET ec_events)
  set(_events_libs ec_events ec_net PkgConfig::CJSON)
  if(EDGECAM_WITH_MQTT AND MOSQUITTO_FOUND)
    list(APPEND _events_libs PkgConfig::MOSQUITTO)
  endif()
  edgecam_unit_test(test_events SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_events.c
    LIBS ${_events_libs} LABELS "threaded" TIMEOUT 120)
endif()

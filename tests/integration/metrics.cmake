# /metrics of every process kind and MQTT events from a real edge to a real mosquitto broker
# (tests/integration/metrics_cli.sh; needs mosquitto, mosquitto-clients, curl).
if(EDGECAM_WITH_MQTT AND MOSQUITTO_FOUND)
  add_test(NAME metrics_cli
    COMMAND ${PROJECT_SOURCE_DIR}/tests/integration/metrics_cli.sh $<TARGET_FILE:edgecam> ${PROJECT_SOURCE_DIR})
  set_tests_properties(metrics_cli PROPERTIES TIMEOUT 120 LABELS "integration;threaded")
endif()

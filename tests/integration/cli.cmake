# The edgecam binaries as processes on loopback (needs the committed models and sqlite3).
add_test(NAME cli_edge_cloud
  COMMAND ${PROJECT_SOURCE_DIR}/tests/integration/cli_edge_cloud.sh $<TARGET_FILE:edgecam> ${PROJECT_SOURCE_DIR})
set_tests_properties(cli_edge_cloud PROPERTIES TIMEOUT 180 LABELS "integration;threaded")

# TLS + bearer token across the real processes, default binding, secret redaction
# (tests/integration/security_cli.sh; needs openssl, curl, ffmpeg, sqlite3).
add_test(NAME security_cli
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/security_cli.sh $<TARGET_FILE:edgecam> ${PROJECT_SOURCE_DIR})
set_tests_properties(security_cli PROPERTIES TIMEOUT 120 LABELS "integration;threaded")

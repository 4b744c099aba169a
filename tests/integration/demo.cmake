# `edgecam demo --quick`: cloud, gateway, 2 backends and 2 edges as real child processes on
# loopback, the report (tables, report.html, annotated JPEGs), one outcome per frame read in the
# stores, SIGINT handling (report written, no child left), busy port and missing model errors.
# Needs the committed models, sqlite3 and ffmpeg (runtime packages).
add_test(NAME demo_quick
  COMMAND ${PROJECT_SOURCE_DIR}/tests/integration/demo.sh $<TARGET_FILE:edgecam>)
# "threaded": the ThreadSanitizer run includes it (the whole deployment's threads, ~4 min there).
set_tests_properties(demo_quick PROPERTIES TIMEOUT 900 LABELS "integration;threaded")

# Results store: the same cases against SQLite (test_store) and a real, throw-away mariadbd
# started by the script (test_store_mariadb).
edgecam_unit_test(test_store SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store.c LIBS ec_store
  LABELS "threaded" TIMEOUT 120)
add_test(NAME test_store_mariadb
  COMMAND ${PROJECT_SOURCE_DIR}/tests/integration/mariadb_store_test.sh $<TARGET_FILE:test_store>)
set_tests_properties(test_store_mariadb PROPERTIES TIMEOUT 180
  LABELS "unit;integration;threaded;mariadb"
  ENVIRONMENT "EDGECAM_SOURCE_DIR=${PROJECT_SOURCE_DIR};EDGECAM_BINARY_DIR=${PROJECT_BINARY_DIR}")

# Every built-in policy with the trained models: a cloud and two edges (each the other's peer)
# running at once on loopback over a short night video (tests/integration/policies_test.c).
if(TARGET ec_bench)
  add_executable(policies_test ${CMAKE_CURRENT_LIST_DIR}/policies_test.c)
  target_link_libraries(policies_test PRIVATE ec_bench PkgConfig::CMOCKA)
  target_include_directories(policies_test PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR})
  target_compile_definitions(policies_test PRIVATE
    EDGECAM_MODELS_DIR="${PROJECT_SOURCE_DIR}/models")
  add_test(NAME policies_test COMMAND policies_test)
  set_tests_properties(policies_test PROPERTIES TIMEOUT 300 LABELS "integration;threaded")
endif()

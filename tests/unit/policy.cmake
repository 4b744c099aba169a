# The example plugin is built as a real shared object and loaded by the test.
add_library(policy_plugin_example MODULE ${PROJECT_SOURCE_DIR}/examples/policy_plugin/least_loaded.c)
target_include_directories(policy_plugin_example PRIVATE ${PROJECT_SOURCE_DIR}/src)
set_target_properties(policy_plugin_example PROPERTIES PREFIX "" OUTPUT_NAME "least_loaded")
add_library(policy_plugin_bad_abi MODULE ${CMAKE_CURRENT_LIST_DIR}/policy_plugin_bad_abi.c)
set_target_properties(policy_plugin_bad_abi PROPERTIES PREFIX "")

edgecam_unit_test(test_policy SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_policy.c LIBS ec_policy)
add_dependencies(test_policy policy_plugin_example policy_plugin_bad_abi)
target_compile_definitions(test_policy PRIVATE
  PLUGIN_OK="$<TARGET_FILE:policy_plugin_example>" PLUGIN_BAD="$<TARGET_FILE:policy_plugin_bad_abi>")

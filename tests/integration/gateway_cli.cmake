# `edgecam backend` + `edgecam gateway` binaries end to end (tests/integration/gateway_cli.sh).
add_executable(gateway_cli_tool ${CMAKE_CURRENT_LIST_DIR}/gateway_cli_tool.c)
target_link_libraries(gateway_cli_tool PRIVATE ec_net ec_nn ec_video ec_core)
target_include_directories(gateway_cli_tool PRIVATE ${PROJECT_SOURCE_DIR}/src)
add_test(NAME gateway_cli COMMAND ${CMAKE_CURRENT_LIST_DIR}/gateway_cli.sh
  $<TARGET_FILE:edgecam> $<TARGET_FILE:gateway_cli_tool>)
set_tests_properties(gateway_cli PROPERTIES TIMEOUT 60 LABELS "integration;threaded")
# Stand-alone runner of bench/bench_gateway.c (not a test): `bench_gateway_run`.
add_executable(bench_gateway_run EXCLUDE_FROM_ALL ${PROJECT_SOURCE_DIR}/bench/bench_gateway.c)
target_compile_definitions(bench_gateway_run PRIVATE BENCH_GATEWAY_MAIN=1)
target_include_directories(bench_gateway_run PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR})
target_link_libraries(bench_gateway_run PRIVATE ec_gateway ec_backend)

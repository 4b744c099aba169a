# The binary's dispatcher: help, unknown command, version.
add_test(NAME cli_help COMMAND edgecam --help)
add_test(NAME cli_unknown_command COMMAND edgecam frobnicate)
set_tests_properties(cli_unknown_command PROPERTIES WILL_FAIL TRUE)
add_test(NAME cli_version COMMAND edgecam --version)
set_tests_properties(cli_version PROPERTIES PASS_REGULAR_EXPRESSION "edgecam [0-9]+\\.[0-9]+")

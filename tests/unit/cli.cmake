# The binary's dispatcher: help, unknown command, version.
add_test(NAME cli_help COMMAND edgecam --help)
add_test(NAME cli_unknown_command COMMAND edgecam frobnicate)
set_tests_properties(cli_unknown_command PROPERTIES WILL_FAIL TRUE)
add_test(NAME cli_version COMMAND edgecam --version)
set_tests_properties(cli_version PROPERTIES PASS_REGULAR_EXPRESSION "edgecam [0-9]+\\.[0-9]+")
# A bad --port is a usage error (exit 2) naming the option, for every server command.
add_test(NAME cli_bad_port COMMAND sh -c [=[
n=0
for c in edge cloud backend gateway; do
  "$0" $c --port abc 2>&1 | grep -q "port must be 0..65535" && "$0" $c --port 70000 >/dev/null 2>&1
  [ $? -eq 2 ] && n=$((n+1))
done
[ $n -eq 4 ]]=] $<TARGET_FILE:edgecam>)

# Configuration: parser, validator, dumper, and the `edgecam config` subcommand.
# This file is also a `cmake -P` script (CLI_CASE set): it runs one CLI case and checks the
# exit status and the exact message, so no other helper file is needed.
if(CMAKE_SCRIPT_MODE_FILE)
  set(f ${WORK}/${CLI_CASE}.yaml)
  set(want_rc 2)
  if(CLI_CASE STREQUAL "bad_value")
    file(WRITE ${f} "edge:\n  source:\n    interval: abc\n")
    set(want "${f}:3: edge.source.interval: must be an integer in [1, 10000] (got \"abc\")")
  elseif(CLI_CASE STREQUAL "unknown_key")
    file(WRITE ${f} "log:\n  level: info\nfilter:\n  threshold: 0.1\n")
    set(want "${f}:4: filter.threshold: unknown key")
  elseif(CLI_CASE STREQUAL "duplicate_key")
    file(WRITE ${f} "policy:\n  name: edge_local\n  name: adaptive\n")
    set(want "${f}:3: policy.name: duplicate key (first at line 2)")
  elseif(CLI_CASE STREQUAL "malformed")
    file(WRITE ${f} "edge:\n  peers: [\n")
    set(want "${f}:3: malformed YAML: did not find expected node content while parsing a flow node")
  elseif(CLI_CASE STREQUAL "missing")
    set(f ${WORK}/does-not-exist.yaml)
    set(want "${f}: cannot open: No such file or directory")
  elseif(CLI_CASE STREQUAL "defaults")
    # The printed defaults are themselves a valid file.
    execute_process(COMMAND ${EDGECAM} config defaults OUTPUT_FILE ${f} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "config defaults exited ${rc}")
    endif()
    set(want_rc 0)
    set(want "")
  else()
    message(FATAL_ERROR "unknown CLI_CASE '${CLI_CASE}'")
  endif()
  execute_process(COMMAND ${EDGECAM} config check ${f} RESULT_VARIABLE rc
    OUTPUT_VARIABLE out ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL want_rc OR NOT err STREQUAL want)
    message(FATAL_ERROR "exit ${rc} (want ${want_rc})\n got: '${err}'\nwant: '${want}'\nstdout: ${out}")
  endif()
  if(want_rc EQUAL 0 AND NOT out STREQUAL "ok")
    message(FATAL_ERROR "stdout '${out}', want 'ok'")
  endif()
  return()
endif()

edgecam_unit_test(test_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config.c LIBS ec_config)

add_test(NAME config_cli_check_examples
  COMMAND edgecam config check ${PROJECT_SOURCE_DIR}/configs/edgecam.example.yaml
          ${PROJECT_SOURCE_DIR}/configs/demo.yaml)
set_tests_properties(config_cli_check_examples PROPERTIES
  PASS_REGULAR_EXPRESSION "edgecam.example.yaml: ok\n.*demo.yaml: ok")
add_test(NAME config_cli_help COMMAND edgecam config --help)
set_tests_properties(config_cli_help PROPERTIES PASS_REGULAR_EXPRESSION "edgecam config check")
add_test(NAME config_cli_no_action COMMAND edgecam config)
set_tests_properties(config_cli_no_action PROPERTIES WILL_FAIL TRUE)
file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/config-cli)
foreach(case bad_value unknown_key duplicate_key malformed missing defaults)
  add_test(NAME config_cli_${case}
    COMMAND ${CMAKE_COMMAND} -DEDGECAM=$<TARGET_FILE:edgecam> -DWORK=${PROJECT_BINARY_DIR}/config-cli
            -DCLI_CASE=${case} -P ${CMAKE_CURRENT_LIST_FILE})
endforeach()

# Synthetic world: determinism, exact boxes, drift effects, video + ground-truth files.
edgecam_unit_test(test_synth SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_synth.c LIBS ec_synth TIMEOUT 300)

# The subcommand: a small run writes video + ground truth; bad values are usage errors.
add_test(NAME cli_synth_writes
  COMMAND edgecam synth -o ${CMAKE_BINARY_DIR}/cli-synth.mkv --frames 8 --width 160 --height 96
          --drift day-to-night --fog 0.2 --seed 5 --quiet)
set_tests_properties(cli_synth_writes PROPERTIES
  PASS_REGULAR_EXPRESSION "wrote 8 frames 160x96 at 30 fps to .*cli-synth.mkv, ground truth .*cli-synth.gt.jsonl")
add_test(NAME cli_synth_bad_value COMMAND edgecam synth -o ${CMAKE_BINARY_DIR}/x.mp4 --fog 2)
set_tests_properties(cli_synth_bad_value PROPERTIES WILL_FAIL TRUE)
add_test(NAME cli_synth_needs_output COMMAND edgecam synth --frames 3)
set_tests_properties(cli_synth_needs_output PROPERTIES WILL_FAIL TRUE)

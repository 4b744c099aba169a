# mAP: hand-computed cases and a comparison with an independent numpy reference
# of the COCO algorithm (tests/oracle/eval_coco.py, run with /usr/bin/python3).
edgecam_unit_test(test_eval SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_eval.c LIBS ec_eval)

# `edgecam eval`: the committed lightweight model scored on a few synthetic frames (its day mAP
# is high, drift to night hurts it: the numbers are deterministic for a seed), on a video file
# written by `edgecam synth`, and bad input gives exit 2 (usage) or 1 (runtime).
set(EC_EDGE_MODEL ${PROJECT_SOURCE_DIR}/models/edge.safetensors)
add_test(NAME cli_eval_help COMMAND edgecam eval --help)
set_tests_properties(cli_eval_help PROPERTIES PASS_REGULAR_EXPRESSION "usage: edgecam eval")
add_test(NAME cli_eval_synth_day
  COMMAND edgecam eval --model ${EC_EDGE_MODEL} --video "synth://day?frames=24&seed=31" --every 3
          --threads 1)
set_tests_properties(cli_eval_synth_day PROPERTIES
  PASS_REGULAR_EXPRESSION "frames scored: 8 of 24.*mAP@0\\.5: 0\\.[6-9][0-9]*\nmAP@\\[\\.5:\\.95\\]: 0\\.[0-9]+")
add_test(NAME cli_eval_synth_night
  COMMAND edgecam eval --model ${EC_EDGE_MODEL} --video "synth://night?frames=24&seed=31" --every 3
          --threads 1)
set_tests_properties(cli_eval_synth_night PROPERTIES PASS_REGULAR_EXPRESSION "mAP@0\\.5: 0\\.[0-2]")
add_test(NAME cli_eval_file_setup
  COMMAND edgecam synth -o ${CMAKE_BINARY_DIR}/cli-eval.mkv --frames 6 --seed 31 --quiet)
set_tests_properties(cli_eval_file_setup PROPERTIES FIXTURES_SETUP cli_eval_video)
add_test(NAME cli_eval_file
  COMMAND edgecam eval --model ${EC_EDGE_MODEL} --video ${CMAKE_BINARY_DIR}/cli-eval.mkv --threads 1)
set_tests_properties(cli_eval_file PROPERTIES FIXTURES_REQUIRED cli_eval_video
  PASS_REGULAR_EXPRESSION "frames scored: 6 of 6, ground-truth boxes: [1-9][0-9]*.*mAP@0\\.5: 0\\.[0-9]+")
# The ground truth named explicitly must exist: a missing file is a runtime error (1).
add_test(NAME cli_eval_file_missing_gt
  COMMAND sh -c "\"$0\" eval --model \"$1\" --video \"$2\" --gt /nonexistent/gt.jsonl; test $? -eq 1"
          $<TARGET_FILE:edgecam> ${EC_EDGE_MODEL} ${CMAKE_BINARY_DIR}/cli-eval.mkv)
set_tests_properties(cli_eval_file_missing_gt PROPERTIES FIXTURES_REQUIRED cli_eval_video)
foreach(bad "--score-thresh;2" "--every;0" "--threads;x" "--video;synth://night?frames=0"
            "--video;synth://nope" "--bogus;1")
  string(MD5 tag "${bad}")
  string(SUBSTRING ${tag} 0 6 tag)
  add_test(NAME cli_eval_usage_${tag}
    COMMAND sh -c "\"$0\" eval --model \"$1\" --video synth://day?frames=2 \"$2\" \"$3\"; test $? -eq 2"
            $<TARGET_FILE:edgecam> ${EC_EDGE_MODEL} ${bad})
endforeach()
add_test(NAME cli_eval_missing_model
  COMMAND sh -c "\"$0\" eval --model /nonexistent.safetensors --video synth://day?frames=2; test $? -eq 1"
          $<TARGET_FILE:edgecam>)

# `edgecam train` validates every option: a bad value is a clear usage error (exit 2). The
# leading tiny --frames/--epochs keep a run short should a bad value ever slip through.
foreach(bad "--frames;12x" "--frames;0" "--lr;abc" "--lr;-1" "--epochs;" "--drift;nite"
            "--drift;mix,,x" "--size;640x361" "--seed;-3" "--batch;300" "--threads;0")
  string(MD5 tag "${bad}")
  string(SUBSTRING ${tag} 0 6 tag)
  add_test(NAME cli_train_usage_${tag}
    COMMAND sh -c "out=$(\"$0\" train --arch \"$1\" --out \"$2\" --frames 1 --epochs 1 --eval-frames 0 \"$3\" \"$4\" 2>&1); rc=$?; echo \"$out\"; test $rc -eq 2 && echo \"$out\" | grep -q 'edgecam train: invalid'"
            $<TARGET_FILE:edgecam> ${PROJECT_SOURCE_DIR}/models/edge.arch.json
            ${CMAKE_BINARY_DIR}/cli-train-never.safetensors ${bad})
endforeach()

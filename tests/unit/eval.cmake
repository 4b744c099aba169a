# mAP: hand-computed cases and a comparison with an independent numpy reference
# of the COCO algorithm (tests/oracle/eval_coco.py, run with /usr/bin/python3).
edgecam_unit_test(test_eval SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_eval.c LIBS ec_eval)

edgecam_unit_test(test_edge_pipeline SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_edge_pipeline.c
  LIBS ec_edge LABELS "threaded" TIMEOUT 120)
edgecam_unit_test(test_edge_node SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_edge_node.c
  LIBS ec_edge LABELS "threaded" TIMEOUT 180)
edgecam_unit_test(test_assist_view SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_assist_view.c LIBS ec_edge)

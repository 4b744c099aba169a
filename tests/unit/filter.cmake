# Frame filter: unit tests, and the cross-check against OpenCV (Debian's python3-opencv).
edgecam_unit_test(test_filter SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_filter.c LIBS ec_filter)

# Driver for the oracle and for hand benchmarks (filter_tool bench W H FRAMES).
add_executable(filter_tool ${CMAKE_CURRENT_LIST_DIR}/test_filter_tool.c)
target_link_libraries(filter_tool PRIVATE ec_filter)
target_include_directories(filter_tool PRIVATE ${PROJECT_SOURCE_DIR}/src)

add_test(NAME filter_oracle
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/oracle/filter_oracle.py $<TARGET_FILE:filter_tool>)
set_tests_properties(filter_oracle PROPERTIES TIMEOUT 300 LABELS "unit;oracle")

# Fault tests (tests/integration/faults.sh): the real edgecam processes on loopback, one of
# them (cloud, gateway, a backend, the MariaDB server, the RTSP camera) killed with SIGKILL
# mid-run and restarted; the stores must keep every row and hold one outcome per frame read.
# Exit 77 = a tool the case needs (mariadbd, GStreamer's RTSP server, ...) is not installed.
foreach(fault_case cloud gateway backend database rtsp)
  add_test(NAME faults_${fault_case}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/faults.sh $<TARGET_FILE:edgecam> ${PROJECT_SOURCE_DIR}
            ${fault_case})
  set_tests_properties(faults_${fault_case} PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77
    LABELS "integration;faults;threaded")
endforeach()

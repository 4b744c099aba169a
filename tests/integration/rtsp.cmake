# RTSP source against a real RTSP server (GStreamer, tests/integration/rtsp_server.py) on
# 127.0.0.1, killed and restarted mid-stream. Needs the TEST_PKGS of scripts/install-deps.sh.
edgecam_unit_test(test_video_rtsp SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_video_rtsp.c
  LIBS ec_video LABELS "threaded;integration" TIMEOUT 120)

# Video module: file/generator sources, JPEG, resize. Clips are made by the ffmpeg CLI at test time.
# Speed is measured by `edgecam bench --section video`, not here.
edgecam_unit_test(test_video SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_video.c LIBS ec_video
  LABELS "threaded" TIMEOUT 120)

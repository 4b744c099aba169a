# Video module: file/generator sources, JPEG, resize. Clips are made by the ffmpeg CLI at test time.
edgecam_unit_test(test_video SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_video.c LIBS ec_video
  LABELS "threaded" TIMEOUT 120)
# FFmpeg is not built with TSan: see the suppression file. Otherwise the options of scripts/test.sh.
if(EDGECAM_SANITIZE STREQUAL "thread")
  set_property(TEST test_video APPEND PROPERTY ENVIRONMENT
    "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=${PROJECT_SOURCE_DIR}/tests/unit/test_video_tsan.supp")
endif()

# Benchmark, not a test: `bench_video [clip] [threads]` compares the file source with bare
# `ffmpeg -f null` decoding and times JPEG and resize on a 720p frame.
add_executable(bench_video ${CMAKE_CURRENT_LIST_DIR}/test_video_bench.c)
target_link_libraries(bench_video PRIVATE ec_video)

# libFuzzer targets (clang only): configure with -DCMAKE_C_COMPILER=clang -DEDGECAM_FUZZ=ON
# (scripts/fuzz.sh does). Each target links the real module libraries, built with coverage,
# ASan and UBSan. CTest runs each for EDGECAM_FUZZ_SECONDS on its committed seed corpus;
# new inputs go to the build tree, never into tests/fuzz/corpus.
if(NOT EDGECAM_FUZZ)
  return()
endif()

set(EDGECAM_FUZZ_SECONDS 10 CACHE STRING "Seconds each fuzz target runs under CTest")
set(fuzz_dir ${CMAKE_CURRENT_LIST_DIR})
set(fuzz_out ${CMAKE_BINARY_DIR}/fuzz)

function(edgecam_fuzz_target name)
  add_executable(${name} ${fuzz_dir}/${name}.c)
  target_link_libraries(${name} PRIVATE ${ARGN})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${fuzz_out})
  string(REPLACE "fuzz_" "" corpus ${name})
  file(MAKE_DIRECTORY ${fuzz_out}/corpus/${corpus} ${fuzz_out}/artifacts)
  add_test(NAME ${name}
    COMMAND ${name} -max_total_time=${EDGECAM_FUZZ_SECONDS} -timeout=30 -rss_limit_mb=2560
            -print_final_stats=1 -artifact_prefix=${fuzz_out}/artifacts/${name}-
            ${fuzz_out}/corpus/${corpus} ${fuzz_dir}/corpus/${corpus})
  set_tests_properties(${name} PROPERTIES LABELS "fuzz"
    TIMEOUT 120 ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1")
endfunction()

edgecam_fuzz_target(fuzz_wire ec_backend ec_net ec_retrain ec_core)
edgecam_fuzz_target(fuzz_jpeg ec_video ec_core)
edgecam_fuzz_target(fuzz_config ec_config ec_core)
edgecam_fuzz_target(fuzz_model ec_nn ec_core)

# edgecam_module(NAME DEPS <targets...>)
# Builds every .c file in the current folder into static library ec_NAME.
function(edgecam_module name)
  cmake_parse_arguments(M "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
  if(NOT srcs)
    return()
  endif()
  add_library(ec_${name} STATIC ${srcs})
  target_include_directories(ec_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(ec_${name} PUBLIC ${M_DEPS} Threads::Threads m)
endfunction()

# edgecam_unit_test(NAME SOURCES <files> LIBS <targets> [LABELS <labels>] [TIMEOUT s])
# A cmocka test executable registered with CTest.
function(edgecam_unit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT}
    LABELS "unit;${T_LABELS}"
    ENVIRONMENT "EDGECAM_SOURCE_DIR=${PROJECT_SOURCE_DIR};EDGECAM_BINARY_DIR=${PROJECT_BINARY_DIR}")
endfunction()

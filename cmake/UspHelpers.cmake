# usp_add_test(NAME SOURCES file... LIBS lib... [LABELS label...])
# Builds one GoogleTest binary and registers its tests with CTest.
include(GoogleTest)
function(usp_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  if(USP_SANITIZE)
    # Test code itself is compiled without optimization in a sanitizer build:
    # the code under test (the libraries) keeps -O1, the build gets faster.
    target_compile_options(${name} PRIVATE -O0)
  endif()
  set(labels unit)
  if(ARG_LABELS)
    set(labels ${ARG_LABELS})
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS "${labels}" DISCOVERY_TIMEOUT 60)
endfunction()

# SBP deduction, boxing insertion, boxing kinds and the general region
# boxing algorithm (DESIGN.md sections 3-4). These need only the compiler
# (and the op registry it links), not ofl_testing's reference kernels.
function(ofl_compiler_test name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE ofl_compiler GTest::gtest GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
endfunction()

ofl_compiler_test(boxing_kind_test compiler/boxing_kind_test.cc)
ofl_compiler_test(region_boxing_test compiler/region_boxing_test.cc)
ofl_compiler_test(sbp_deduction_test compiler/sbp_deduction_test.cc)
ofl_compiler_test(boxing_insertion_test compiler/boxing_insertion_test.cc)

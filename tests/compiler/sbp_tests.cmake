# SBP deduction, boxing insertion, boxing kinds and the general region
# boxing algorithm (DESIGN.md sections 3-4).
ofl_test(boxing_kind_test compiler/boxing_kind_test.cc)
ofl_test(region_boxing_test compiler/region_boxing_test.cc)
ofl_test(sbp_deduction_test compiler/sbp_deduction_test.cc)
ofl_test(boxing_insertion_test compiler/boxing_insertion_test.cc)

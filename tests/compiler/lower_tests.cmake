# Plan data type and physical lowering (runtime/plan*, compiler/lower/).
ofl_test(plan_test compiler/plan_test.cc)
target_link_libraries(plan_test PRIVATE ofl_plan)
ofl_test(physical_lowering_test compiler/physical_lowering_test.cc)
target_link_libraries(physical_lowering_test PRIVATE ofl_compiler)

# `ofl compile` on the saved jobs of compiler/jobs/: exit codes, the three
# files written, the printed summary, and the errors for a missing file and
# a malformed job (check_compile.sh says what each mode checks).
foreach(mode infer train errors)
  add_test(NAME ofl_compile_${mode}
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/compiler/jobs/check_compile.sh $<TARGET_FILE:ofl>
                   ${CMAKE_CURRENT_SOURCE_DIR}/compiler/jobs ${CMAKE_CURRENT_BINARY_DIR}/ofl_compile_${mode} ${mode})
  set_tests_properties(ofl_compile_${mode} PROPERTIES LABELS unit)
endforeach()

# The actor runtime (runtime/) on hand-built plans, and the Session
# (api/session.h) end to end: compile, run, compare layouts.
ofl_test(runtime_test runtime/runtime_test.cc)
target_link_libraries(runtime_test PRIVATE ofl_runtime)
# Micro-batches: acts per step, held inputs, accumulated registers, pipeline
# overlap from register counts (on the act trace).
ofl_test(micro_batch_runtime_test runtime/micro_batch_runtime_test.cc)
target_link_libraries(micro_batch_runtime_test PRIVATE ofl_runtime)
ofl_test(session_test runtime/session_test.cc)
target_link_libraries(session_test PRIVATE ofl_api)
ofl_test(equivalence_test runtime/equivalence_test.cc)
target_link_libraries(equivalence_test PRIVATE ofl_api)
# `ofl run` on a saved job and its plan.pb: loss lines per step, seeds,
# zero feeds and errors naming the file (check_run.sh).
add_test(NAME RunCommandTest
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/runtime/check_run.sh $<TARGET_FILE:ofl>
                 ${CMAKE_CURRENT_SOURCE_DIR}/compiler/jobs ${CMAKE_CURRENT_BINARY_DIR}/run_command_out)
set_tests_properties(RunCommandTest PROPERTIES LABELS unit)
# The caching policy of the CUDA allocators, on a counting host backend.
ofl_test(caching_allocator_test runtime/caching_allocator_test.cc)
target_link_libraries(caching_allocator_test PRIVATE ofl_runtime)

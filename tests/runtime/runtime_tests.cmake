# The actor runtime (runtime/) on hand-built plans, and the Session
# (api/session.h) end to end: compile, run, compare layouts.
ofl_test(runtime_test runtime/runtime_test.cc)
target_link_libraries(runtime_test PRIVATE ofl_runtime)
ofl_test(session_test runtime/session_test.cc)
target_link_libraries(session_test PRIVATE ofl_api)

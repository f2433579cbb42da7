# Sources of compiler/lower/, added to ofl_compiler.
target_sources(ofl_compiler PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/physical_lowering.cc
)

# Sources of ops/loss/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/loss_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/cross_entropy.cc
  ${CMAKE_CURRENT_LIST_DIR}/mse_loss.cc
)

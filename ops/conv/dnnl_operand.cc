#include "ops/conv/dnnl_operand.h"

namespace ofl {

void DnnlOperand::Bind(const dnnl::memory::desc& plain, const dnnl::memory::desc& wanted, Role role,
                       const dnnl::engine& engine) {
  role_ = role;
  reordered_ = wanted != plain;
  plain_ = dnnl::memory(plain, engine, DNNL_MEMORY_NONE);
  if (!reordered_) {
    blocked_ = dnnl::memory();
    reorder_ = dnnl::reorder();
    reorder_arguments_.clear();
    return;
  }
  blocked_ = dnnl::memory(wanted, engine);
  if (role == Role::kInput) {
    reorder_ = dnnl::reorder(plain_, blocked_);
    reorder_arguments_ = {{DNNL_ARG_FROM, plain_}, {DNNL_ARG_TO, blocked_}};
  } else {
    reorder_ = dnnl::reorder(blocked_, plain_);
    reorder_arguments_ = {{DNNL_ARG_FROM, blocked_}, {DNNL_ARG_TO, plain_}};
  }
}

void DnnlOperand::BeforePrimitive(dnnl::stream& stream) {
  if (reordered_ && role_ == Role::kInput) reorder_.execute(stream, reorder_arguments_);
}

void DnnlOperand::AfterPrimitive(dnnl::stream& stream) {
  if (reordered_ && role_ == Role::kOutput) reorder_.execute(stream, reorder_arguments_);
}

}  // namespace ofl

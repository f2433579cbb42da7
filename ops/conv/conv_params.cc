#include "ops/conv/conv_params.h"

namespace ofl {

namespace {

// Two values, each >= `minimum`, from an ints attribute.
StatusOr<std::array<int64_t, 2>> ReadPair(const std::string& who, const AttrMap& attrs,
                                          const std::string& name, int64_t minimum) {
  const std::vector<int64_t>& values = attrs.GetInts(name);
  const bool ok = values.size() == 2 && values[0] >= minimum && values[1] >= minimum;
  OFL_CHECK_OR_RETURN(ok) << who << " attribute " << name << ": expected 2 values >= " << minimum
                          << " (H, W), got " << AttrValueToString(values);
  return std::array<int64_t, 2>{values[0], values[1]};
}

}  // namespace

StatusOr<Conv2dParams> ReadConv2dParams(const std::string& who, const AttrMap& attrs) {
  Conv2dParams params;
  OFL_ASSIGN_OR_RETURN(params.stride, ReadPair(who, attrs, "stride", 1));
  OFL_ASSIGN_OR_RETURN(params.padding, ReadPair(who, attrs, "padding", 0));
  OFL_ASSIGN_OR_RETURN(params.dilation, ReadPair(who, attrs, "dilation", 1));
  params.groups = attrs.GetInt("groups");
  OFL_CHECK_OR_RETURN(params.groups >= 1)
      << who << " attribute groups: expected a value >= 1, got " << params.groups;
  return params;
}

StatusOr<Pool2dParams> ReadPool2dParams(const std::string& who, const AttrMap& attrs, bool average) {
  Pool2dParams params;
  OFL_ASSIGN_OR_RETURN(params.kernel, ReadPair(who, attrs, "kernel", 1));
  if (attrs.GetInts("stride").empty()) {
    params.stride = params.kernel;
  } else {
    OFL_ASSIGN_OR_RETURN(params.stride, ReadPair(who, attrs, "stride", 1));
  }
  OFL_ASSIGN_OR_RETURN(params.padding, ReadPair(who, attrs, "padding", 0));
  for (int axis = 0; axis < 2; ++axis) {
    OFL_CHECK_OR_RETURN(2 * params.padding[axis] <= params.kernel[axis])
        << who << " attribute padding: expected at most half the kernel ("
        << AttrValueToString(attrs.Get("kernel")) << ") per axis, got "
        << AttrValueToString(attrs.Get("padding"));
  }
  if (average) params.count_include_pad = attrs.GetBool("count_include_pad");
  return params;
}

}  // namespace ofl

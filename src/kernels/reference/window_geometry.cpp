#include "kernels/reference/window_geometry.h"

#include <algorithm>

namespace edgerun {

namespace {
std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}
}  // namespace

WindowAttributes WindowAttributes::from_node(const Node& node) {
  WindowAttributes a;
  const std::string pad = node.attr_string("auto_pad", "NOTSET");
  if (pad == "NOTSET") a.auto_pad = AutoPad::kNotSet;
  else if (pad == "SAME_UPPER") a.auto_pad = AutoPad::kSameUpper;
  else if (pad == "SAME_LOWER") a.auto_pad = AutoPad::kSameLower;
  else if (pad == "VALID") a.auto_pad = AutoPad::kValid;
  else throw Error(ErrorCode::kInvalidModel, node.describe() + ": unknown auto_pad '" + pad + "'");
  a.kernel_shape = node.attr_ints("kernel_shape");
  a.strides = node.attr_ints("strides");
  a.dilations = node.attr_ints("dilations");
  a.pads = node.attr_ints("pads");
  a.ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  return a;
}

int64_t WindowGeometry::out_size() const {
  int64_t n = 1;
  for (int64_t d : out) n *= d;
  return n;
}
int64_t WindowGeometry::in_size() const {
  int64_t n = 1;
  for (int64_t d : in) n *= d;
  return n;
}
int64_t WindowGeometry::kernel_size() const {
  int64_t n = 1;
  for (int64_t d : kernel) n *= d;
  return n;
}

WindowGeometry resolve_window(const PrepareContext& ctx, const WindowAttributes& attrs,
                              const std::vector<int64_t>& in_spatial, const std::vector<int64_t>& kernel) {
  const size_t rank = in_spatial.size();
  auto check_len = [&](const std::vector<int64_t>& v, size_t want, const char* name) {
    if (!v.empty() && v.size() != want)
      ctx.fail(std::string(name) + " has " + std::to_string(v.size()) + " values " + list_str(v) + ", expected " +
               std::to_string(want) + " for " + std::to_string(rank) + " spatial dimensions");
  };
  check_len(attrs.strides, rank, "strides");
  check_len(attrs.dilations, rank, "dilations");
  check_len(attrs.pads, 2 * rank, "pads");
  if (kernel.size() != rank)
    ctx.fail("kernel has " + std::to_string(kernel.size()) + " dimensions, expected " + std::to_string(rank));

  WindowGeometry g;
  g.in = in_spatial;
  g.kernel = kernel;
  g.stride = attrs.strides.empty() ? std::vector<int64_t>(rank, 1) : attrs.strides;
  g.dilation = attrs.dilations.empty() ? std::vector<int64_t>(rank, 1) : attrs.dilations;
  g.pad_begin.assign(rank, 0);
  g.pad_end.assign(rank, 0);
  g.out.assign(rank, 0);
  for (size_t i = 0; i < rank; ++i) {
    if (g.kernel[i] < 1) ctx.fail("kernel dimensions must be positive, got " + list_str(kernel));
    if (g.stride[i] < 1) ctx.fail("strides must be positive, got " + list_str(g.stride));
    if (g.dilation[i] < 1) ctx.fail("dilations must be positive, got " + list_str(g.dilation));
    if (g.in[i] < 0) ctx.fail("negative input dimension");
  }
  if (attrs.auto_pad == AutoPad::kNotSet && !attrs.pads.empty()) {
    for (size_t i = 0; i < rank; ++i) {
      g.pad_begin[i] = attrs.pads[i];
      g.pad_end[i] = attrs.pads[i + rank];
      if (g.pad_begin[i] < 0 || g.pad_end[i] < 0) ctx.fail("pads must be non-negative, got " + list_str(attrs.pads));
    }
  }
  for (size_t i = 0; i < rank; ++i) {
    const int64_t extent = (g.kernel[i] - 1) * g.dilation[i] + 1;
    const int64_t s = g.stride[i];
    if (attrs.auto_pad == AutoPad::kSameUpper || attrs.auto_pad == AutoPad::kSameLower) {
      g.out[i] = (g.in[i] + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (g.out[i] - 1) * s + extent - g.in[i]);
      const int64_t small = total / 2;
      g.pad_begin[i] = attrs.auto_pad == AutoPad::kSameUpper ? small : total - small;
      g.pad_end[i] = total - g.pad_begin[i];
      continue;
    }
    const int64_t span = g.in[i] + g.pad_begin[i] + g.pad_end[i] - extent;
    if (span < 0)
      ctx.fail("window of extent " + std::to_string(extent) + " does not fit spatial dimension " + std::to_string(i) +
               " of size " + std::to_string(g.in[i]) + " with pads " + std::to_string(g.pad_begin[i]) + "+" +
               std::to_string(g.pad_end[i]));
    if (attrs.ceil_mode && attrs.auto_pad == AutoPad::kNotSet) {
      g.out[i] = (span + s - 1) / s + 1;
      // A last window that would start inside the end padding is dropped.
      if ((g.out[i] - 1) * s >= g.in[i] + g.pad_begin[i]) --g.out[i];
    } else {
      g.out[i] = span / s + 1;
    }
  }
  return g;
}

Window3 to_window3(const WindowGeometry& g) {
  Window3 w{};
  const size_t lead = 3 - g.rank();
  for (size_t i = 0; i < 3; ++i) {
    const bool real = i >= lead;
    const size_t j = i - lead;
    w.in[i] = real ? g.in[j] : 1;
    w.out[i] = real ? g.out[j] : 1;
    w.kernel[i] = real ? g.kernel[j] : 1;
    w.stride[i] = real ? g.stride[j] : 1;
    w.dilation[i] = real ? g.dilation[j] : 1;
    w.pad[i] = real ? g.pad_begin[j] : 0;
  }
  return w;
}

void valid_output_range(int64_t in, int64_t out, int64_t stride, int64_t pad, int64_t offset, int64_t* lo,
                        int64_t* hi) {
  // o * stride - pad + offset >= 0  and  <= in - 1
  const int64_t first = -floor_div(-(pad - offset), stride);  // ceil((pad - offset) / stride)
  const int64_t last = floor_div(in - 1 + pad - offset, stride);
  *lo = std::clamp<int64_t>(first, 0, out);
  *hi = std::clamp<int64_t>(last + 1, *lo, out);
}

}  // namespace edgerun

// edgerun.ConvMaxPoolNhwc: a float32 convolution (groups of 1) and the max pool that reads it, on NHWC
// tensors, as FuseConvMaxPool writes them. Inputs: X, W [M, C, kH, kW], B (optional). The convolution's
// attributes are ONNX Conv's with its fused activation (activation_min, activation_max, fused_function);
// the pool's are ONNX MaxPool's with the prefix pool_ (pool_kernel_shape, pool_strides, pool_pads,
// pool_dilations, pool_ceil_mode, pool_auto_pad). Runs on ConvMaxPoolF32, band by band.
#include <string>

#include "kernels/kernel.h"
#include "kernels/reference/window_geometry.h"
#include "kernels/x86/conv_max_pool_f32.h"
#include "kernels/x86/fused_activation.h"

namespace edgerun {
namespace {

// The pool's attributes, read as ONNX MaxPool's from a node that carries them without the prefix.
WindowAttributes pool_attributes(const Node& node) {
  Node pool;
  pool.name = node.name;
  pool.op_type = node.op_type;
  const std::string prefix = "pool_";
  for (const auto& [key, value] : node.attrs)
    if (key.compare(0, prefix.size(), prefix) == 0) pool.attrs[key.substr(prefix.size())] = value;
  WindowAttributes a = WindowAttributes::from_node(pool);
  if (a.kernel_shape.size() != 2)
    throw Error(ErrorCode::kInvalidModel, node.describe() + ": expects a 2-D pool_kernel_shape");
  return a;
}

class ConvMaxPoolNhwc final : public Kernel {
 public:
  ConvMaxPoolNhwc(const Node& node, int64_t)
      : conv_attrs_(WindowAttributes::from_node(node)), pool_attrs_(pool_attributes(node)),
        group_(node.attr_int("group", 1)), activation_(fused_activation(node, "")) {}

  void prepare(PrepareContext& ctx) override {
    if (!ConvMaxPoolF32::supported()) ctx.unsupported("needs a CPU with AVX2 and FMA");
    if (group_ != 1) ctx.fail("expects a convolution of one group, got group " + std::to_string(group_));
    for (size_t i : {0, 1})
      if (!ctx.has_input(i) || ctx.input_dtype(i) != DType::kFloat32) ctx.fail("expects float32 X and W");
    const Shape& x = ctx.input_shape(0);  // N, H, W, C
    const Shape& w = ctx.input_shape(1);  // M, C, kH, kW
    if (x.size() != 4 || w.size() != 4)
      ctx.fail("expects 4-D X (NHWC) and W, got " + shape_str(x) + " and " + shape_str(w));
    if (w[1] != x[3])
      ctx.fail("W " + shape_str(w) + " does not match " + std::to_string(x[3]) + " input channels");
    if (w[2] * w[3] > ConvIgemmF32::kMaxTaps)
      ctx.fail("kernel " + shape_str(w) + " has more than " + std::to_string(ConvIgemmF32::kMaxTaps) + " taps");
    if (ctx.has_input(2) && (ctx.input_dtype(2) != DType::kFloat32 || ctx.input_shape(2) != Shape{w[0]}))
      ctx.fail("B must be float32 [" + std::to_string(w[0]) + "], got " + shape_str(ctx.input_shape(2)));
    if (!conv_attrs_.kernel_shape.empty() && conv_attrs_.kernel_shape != std::vector<int64_t>{w[2], w[3]})
      ctx.fail("kernel_shape attribute does not match W shape " + shape_str(w));
    const WindowGeometry c = resolve_window(ctx, conv_attrs_, {x[1], x[2]}, {w[2], w[3]});
    const WindowGeometry p = resolve_window(ctx, pool_attrs_, {c.out[0], c.out[1]}, pool_attrs_.kernel_shape);
    if (p.kernel[0] > 64) ctx.fail("pool kernel taller than 64 rows");
    const ConvNhwcGeometry conv{x[0], x[1], x[2], c.out[0], c.out[1], c.stride[0], c.stride[1],
                                c.dilation[0], c.dilation[1], c.pad_begin[0], c.pad_begin[1]};
    const MaxPoolGeometry pool{p.kernel[0], p.kernel[1], p.stride[0], p.stride[1], p.dilation[0], p.dilation[1],
                               p.pad_begin[0], p.pad_begin[1], p.out[0], p.out[1]};
    if (!packed_) {  // once: the session may free the weights after the first plan
      kernel_.pack(ctx.require_value(1).data<float>(), ctx.has_input(2) ? ctx.require_value(2).data<float>() : nullptr,
                   w[0], w[1], w[2], w[3], activation_);
      packed_ = true;
    }
    kernel_.set_geometry(conv, pool);
    empty_ = shape_numel(x) == 0 || p.out[0] * p.out[1] == 0 || w[0] == 0;
    ctx.request_scratch(kernel_.scratch_bytes());
    ctx.set_output(0, DType::kFloat32, {x[0], p.out[0], p.out[1], w[0]});
  }

  bool packed_input(size_t index) const override { return index == 1 || index == 2; }

  void run(RunContext& ctx) override {
    if (empty_) return;
    kernel_.run(ctx.input(0).data<float>(), ctx.output(0).data<float>(), ctx.scratch(), ctx.threads());
  }

 private:
  WindowAttributes conv_attrs_, pool_attrs_;
  int64_t group_;
  OutputActivation activation_;
  ConvMaxPoolF32 kernel_;
  bool packed_ = false;
  bool empty_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "ConvMaxPoolNhwc", ConvMaxPoolNhwc);

}  // namespace edgerun

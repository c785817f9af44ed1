// edgerun.ExpandDepthwiseNhwc: a 1x1 float32 convolution (the expansion) and the depthwise convolution
// that reads it, on NHWC tensors, as FuseExpandDepthwise writes them. Inputs: X, W1 [M, C, 1, 1], B1
// (optional, ""), W2 [M, 1, kH, kW], B2 (optional). The depthwise convolution's attributes are ONNX
// Conv's (group == M) with its fused activation (activation_min, activation_max, fused_function); the
// expansion's activation is expand_activation_min, expand_activation_max and expand_fused_function.
// Runs on ConvExpandDepthwiseF32, band by band.
#include "kernels/kernel.h"
#include "kernels/reference/window_geometry.h"
#include "kernels/x86/conv_expand_depthwise_f32.h"
#include "kernels/x86/fused_activation.h"

namespace edgerun {
namespace {

class ExpandDepthwiseNhwc final : public Kernel {
 public:
  ExpandDepthwiseNhwc(const Node& node, int64_t)
      : attrs_(WindowAttributes::from_node(node)), group_(node.attr_int("group", 1)),
        expand_activation_(fused_activation(node, "expand_")), depthwise_activation_(fused_activation(node, "")) {}

  void prepare(PrepareContext& ctx) override {
    if (!ConvExpandDepthwiseF32::supported()) ctx.unsupported("needs a CPU with AVX2 and FMA");
    for (size_t i : {0, 1, 3})
      if (!ctx.has_input(i) || ctx.input_dtype(i) != DType::kFloat32) ctx.fail("expects float32 X, W1 and W2");
    const Shape& x = ctx.input_shape(0);   // N, H, W, C
    const Shape& w1 = ctx.input_shape(1);  // M, C, 1, 1
    const Shape& w2 = ctx.input_shape(3);  // M, 1, kH, kW
    if (x.size() != 4 || w1.size() != 4 || w2.size() != 4)
      ctx.fail("expects 4-D X (NHWC), W1 and W2, got " + shape_str(x) + ", " + shape_str(w1) + " and " + shape_str(w2));
    const int64_t channels = x[3], expanded = w1[0];
    if (w1[1] != channels || w1[2] != 1 || w1[3] != 1)
      ctx.fail("W1 " + shape_str(w1) + " is not a 1x1 convolution of " + std::to_string(channels) + " channels");
    if (w2[0] != expanded || w2[1] != 1 || group_ != expanded)
      ctx.fail("W2 " + shape_str(w2) + " is not a depthwise convolution of W1's " + std::to_string(expanded) +
               " channels (group " + std::to_string(group_) + ")");
    if (w2[2] * w2[3] > ConvDepthwiseF32::kMaxTaps)
      ctx.fail("depthwise kernel " + shape_str(w2) + " has more than " + std::to_string(ConvDepthwiseF32::kMaxTaps) +
               " taps");
    for (size_t i : {2, 4}) {
      if (!ctx.has_input(i)) continue;
      if (ctx.input_dtype(i) != DType::kFloat32 || ctx.input_shape(i) != Shape{expanded})
        ctx.fail("bias input " + std::to_string(i) + " must be float32 [" + std::to_string(expanded) + "], got " +
                 shape_str(ctx.input_shape(i)));
    }
    if (!attrs_.kernel_shape.empty() && attrs_.kernel_shape != std::vector<int64_t>{w2[2], w2[3]})
      ctx.fail("kernel_shape attribute does not match W2 shape " + shape_str(w2));
    const WindowGeometry g = resolve_window(ctx, attrs_, {x[1], x[2]}, {w2[2], w2[3]});
    if (g.dilation[0] != 1 || g.dilation[1] != 1) ctx.fail("dilated depthwise convolutions are not fused");
    const ConvNhwcGeometry geometry{x[0], x[1], x[2], g.out[0], g.out[1], g.stride[0], g.stride[1], 1, 1,
                                    g.pad_begin[0], g.pad_begin[1]};
    if (!packed_) {  // once: the session may free the weights after the first plan
      auto value = [&ctx](size_t i) -> const float* {
        return ctx.has_input(i) ? ctx.require_value(i).data<float>() : nullptr;
      };
      kernel_.pack(value(1), value(2), channels, expanded, expand_activation_, value(3), value(4), w2[2], w2[3],
                   depthwise_activation_);
      packed_ = true;
    }
    kernel_.set_geometry(geometry);
    empty_ = shape_numel(x) == 0 || g.out[0] * g.out[1] == 0;
    ctx.request_scratch(kernel_.scratch_bytes());
    ctx.set_output(0, DType::kFloat32, {x[0], g.out[0], g.out[1], expanded});
  }

  bool packed_input(size_t index) const override { return index >= 1 && index <= 4; }

  void run(RunContext& ctx) override {
    if (empty_) return;
    kernel_.run(ctx.input(0).data<float>(), ctx.output(0).data<float>(), ctx.scratch(), ctx.threads());
  }

 private:
  WindowAttributes attrs_;
  int64_t group_;
  OutputActivation expand_activation_, depthwise_activation_;
  ConvExpandDepthwiseF32 kernel_;
  bool packed_ = false;
  bool empty_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "ExpandDepthwiseNhwc", ExpandDepthwiseNhwc);

}  // namespace edgerun

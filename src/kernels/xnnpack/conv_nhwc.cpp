// edgerun.ConvNhwc: 2-D float32 convolution on NHWC tensors with constant weights, through XNNPACK.
// Inputs and attributes are those of ONNX Conv (W stays in ONNX layout [M, C/group, kH, kW]), plus
// an optional fused output clamp, SiLU or HardSwish. The weights are packed once, when the operator is created.
// Ungrouped convolutions run on the AVX2/FMA indirect GEMM where the CPU has it (several times faster
// than this XNNPACK build here), and depthwise ones (group == channels == out channels, no dilation) on
// the AVX2/FMA depthwise kernel, which also applies SiLU and HardSwish as it stores where XNNPACK needs a
// second pass, except the 3x3 stride-2 ones XNNPACK runs faster (ConvDepthwiseF32::preferred); other
// grouped ones, dilated depthwise ones and other CPUs go through XNNPACK.
// That GEMM runs at the FMA peak, so 3x3 stride-1 ones go further with Winograd (fewer multiplies)
// wherever enough tiles share its larger transformed weights (ConvWinogradF32::choose_tile: at 7x7
// 512->512, as at the end of ResNets, the direct kernel stays faster).
// The three own kernels take AVX-512 paths where cpu_has_avx512() (EDGERUN_ISA=avx2 keeps them on AVX2);
// the choices here were measured on AVX2 and still hold there for Winograd (EDGERUN_CONV_WINOGRAD=0 is
// 1.2-1.3x slower on resnet18/50); the depthwise 3x3 stride-2 choice measured within noise either way.
#include <algorithm>
#include <cstdlib>
#include <limits>

#include "kernels/reference/window_geometry.h"
#include "kernels/x86/conv_depthwise_f32.h"
#include "kernels/x86/conv_igemm_f32.h"
#include "kernels/x86/conv_winograd_f32.h"
#include "kernels/x86/activation_f32.h"
#include "runtime/thread_pool.h"
#include "kernels/xnnpack/xnnpack_common.h"

namespace edgerun {
namespace {

// The value of an A/B timing switch (an integer environment variable), or -1 when it is unset:
//  - EDGERUN_CONV_WINOGRAD=0 keeps every convolution on the direct kernels; 2 or 4 forces that tile size
//    wherever Winograd applies.
//  (EDGERUN_CONV_DEPTHWISE, the depthwise kernel's switch, is read by ConvDepthwiseF32::preferred.)
int kernel_override(const char* name) {
  const char* s = std::getenv(name);
  return s && *s ? std::atoi(s) : -1;
}

// Winograd tile size for a 3x3 stride-1 ungrouped convolution, or 0 for the direct kernel.
int winograd_tile(int64_t channels, int64_t out_channels, int64_t batch, int64_t out_h, int64_t out_w) {
  const int forced = kernel_override("EDGERUN_CONV_WINOGRAD");
  if (forced == 0) return 0;
  if (forced == 2 || forced == 4) return forced;
  return ConvWinogradF32::choose_tile(channels, out_channels, batch, out_h, out_w);
}

constexpr float kInf = std::numeric_limits<float>::infinity();

class ConvNhwc final : public Kernel {
 public:
  ConvNhwc(const Node& node, int64_t)
      : attrs_(WindowAttributes::from_node(node)), group_(node.attr_int("group", 1)), range_(OutputRange::from_node(node)),
        function_(function_of(node)), has_scale_(node.inputs.size() > 3 && !node.inputs[3].empty()),
        has_residual_(node.inputs.size() > 4 && !node.inputs[4].empty()) {
    if (group_ < 1) throw Error(ErrorCode::kInvalidModel, node.describe() + ": group must be positive");
  }

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kFloat32 || ctx.input_dtype(1) != DType::kFloat32)
      ctx.fail("expects float32 X and W");
    const Shape& x = ctx.input_shape(0);  // N, H, W, C
    const Shape& w = ctx.input_shape(1);  // M, C/group, kH, kW
    if (x.size() != 4 || w.size() != 4)
      ctx.fail("expects 4-D X (NHWC) and W, got " + shape_str(x) + " and " + shape_str(w));
    const int64_t channels = x[3], out_channels = w[0];
    if (channels % group_ != 0 || out_channels % group_ != 0 || w[1] * group_ != channels)
      ctx.fail("W shape " + shape_str(w) + " does not match " + std::to_string(channels) + " input channels in " +
               std::to_string(group_) + " groups");
    if (ctx.has_input(2) && ctx.input_shape(2) != Shape{out_channels})
      ctx.fail("B has shape " + shape_str(ctx.input_shape(2)) + ", expected [" + std::to_string(out_channels) + "]");
    if (!attrs_.kernel_shape.empty() && attrs_.kernel_shape != std::vector<int64_t>{w[2], w[3]})
      ctx.fail("kernel_shape attribute does not match W shape " + shape_str(w));
    const WindowGeometry g = resolve_window(ctx, attrs_, {x[1], x[2]}, {w[2], w[3]});
    conv_shape_ = {x[0], g.out[0], g.out[1], out_channels};
    set_output_with_residual(ctx);
    batch_ = x[0];
    height_ = x[1];
    width_ = x[2];
    empty_ = shape_numel(x) == 0 || g.out[0] * g.out[1] == 0;
    const bool winograd_shape = group_ == 1 && w[2] == 3 && w[3] == 3 && g.stride[0] == 1 && g.stride[1] == 1 &&
                                g.dilation[0] == 1 && g.dilation[1] == 1 && ConvWinogradF32::supported();
    const ConvNhwcGeometry geometry{x[0], x[1], x[2], g.out[0], g.out[1], g.stride[0], g.stride[1],
                                    g.dilation[0], g.dilation[1], g.pad_begin[0], g.pad_begin[1]};
    auto value = [&ctx](size_t i) -> const float* {  // read only when packing
      return ctx.has_input(i) ? ctx.require_value(i).data<float>() : nullptr;
    };
    const bool depthwise_shape =
        group_ == channels && out_channels == channels && w[1] == 1 && w[2] * w[3] <= ConvDepthwiseF32::kMaxTaps &&
        ConvDepthwiseF32::handles(geometry) && ConvDepthwiseF32::supported() &&
        ConvDepthwiseF32::preferred(channels, w[2], w[3], geometry, activation());
    int tile = winograd_shape ? winograd_tile(channels, out_channels, x[0], g.out[0], g.out[1]) : 0;
    // Once the session has freed the weights (packed_input), new input sizes keep the packed form the
    // first plan chose: both kernels serve any input size.
    const Tensor* weights = ctx.input_value(1);
    if (weights && weights->raw() == nullptr && (winograd_ || igemm_))
      tile = use_winograd_ ? winograd_->tile() : 0;
    use_winograd_ = tile != 0;
    if (use_winograd_) {
      if (!winograd_ || winograd_->tile() != tile) {
        winograd_ = std::make_unique<ConvWinogradF32>(tile);
        winograd_->pack(value(1), value(2), out_channels, channels, activation());
      }
      winograd_->set_geometry(geometry);
      prepare_extras(ctx, winograd_->scratch_bytes());
      return;
    }
    // As above: with the weights freed, a depthwise convolution stays on the kernel that packed them.
    use_depthwise_ = depthwise_shape || (depthwise_ && weights && weights->raw() == nullptr);
    if (use_depthwise_) {
      if (!depthwise_) {
        depthwise_ = std::make_unique<ConvDepthwiseF32>();
        depthwise_->pack(value(1), value(2), channels, w[2], w[3], activation());
      }
      depthwise_->set_geometry(geometry);
      prepare_extras(ctx, depthwise_->scratch_bytes());
      return;
    }
    if (group_ == 1 && w[2] * w[3] <= ConvIgemmF32::kMaxTaps && ConvIgemmF32::supported()) {
      if (!igemm_) {
        igemm_ = std::make_unique<ConvIgemmF32>();
        igemm_->pack(value(1), value(2), out_channels, channels, w[2], w[3], activation());
      }
      igemm_->set_geometry(geometry);
      prepare_extras(ctx, igemm_->scratch_bytes());
      return;
    }
    prepare_extras(ctx, 0);
    const std::vector<int64_t> pads = {g.pad_begin[0], g.pad_begin[1], g.pad_end[0], g.pad_end[1]};
    if (op_ && pads == pads_) return;  // same operator (and packed weights) for new input sizes
    pads_ = pads;
    create_operator(ctx, g, channels, out_channels, w);
  }

  // The GEMM and Winograd kernels store rows any distance apart; the residual, scale and activation
  // passes of the other paths read the output as dense.
  bool writes_strided_output(size_t index) const override {
    return index == 0 && !empty_ && !use_depthwise_ && (use_winograd_ || igemm_) && !has_residual_ && !has_scale_;
  }

  // The own kernels keep their packed form for any input size (see prepare); the XNNPACK operator is
  // created again only when the padding changes, which explicit pads never do.
  bool packed_input(size_t index) const override {
    return (index == 1 || index == 2) &&
           (own_kernel() || (op_ && attrs_.auto_pad == AutoPad::kNotSet));
  }

  void run(RunContext& ctx) override {
    if (empty_) return;
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    char* scratch = static_cast<char*>(ctx.scratch());
    const float* residual = has_residual_ ? ctx.input(4).data<float>() : nullptr;
    // The own kernels add a residual of the output's shape as they store; otherwise (XNNPACK, or a
    // residual that broadcasts) the convolution is written without its activation, and the sum and the
    // activation follow in one pass.
    const bool in_kernel = residual && residual_direct_ && own_kernel();
    const bool raw = residual && !in_kernel;
    float* out = residual && !residual_direct_ ? reinterpret_cast<float*>(scratch + conv_offset_) : y;
    const float* kernel_residual = in_kernel ? residual : nullptr;
    const float* scaled_weights = nullptr;
    if (has_scale_) {
      const float* scale = ctx.input(3).data<float>();
      float* extra = reinterpret_cast<float*>(scratch + scale_offset_);
      if (scale_weights_) {
        igemm_->scale_weights(scale, extra);
        scaled_weights = extra;
      } else {
        scale_channels(x, scale, extra, ctx.threads());
        x = extra;
      }
    }
    // Rows further apart than the channels: the executor put this output inside a Concat's (only where
    // writes_strided_output said so).
    const int64_t y_stride = ctx.output_row_stride(0);
    if (y_stride != 0 && !writes_strided_output(0)) ctx.fail("cannot write its output with a row stride");
    if (use_depthwise_) {
      depthwise_->run(x, out, scratch, ctx.threads(), kernel_residual, raw);
    } else if (use_winograd_) {
      winograd_->run(x, out, scratch, ctx.threads(), kernel_residual, raw, y_stride);
    } else if (igemm_) {
      igemm_->run(x, out, scratch, ctx.threads(), scaled_weights, kernel_residual, raw, y_stride);
    } else {
      pthreadpool_t threads = pthreads_of(ctx);
      check_xnn(xnn_setup_convolution2d_nhwc_f32(op_.get(), batch_, height_, width_, x, out, threads), ctx.node(),
                "xnn_setup_convolution2d_nhwc_f32");
      check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
    }
    if (raw) {
      add_residual(out, residual, y, ctx.input(4).shape(), ctx.threads());
      apply_activation_f32(activation(), y, y, ctx.output(0).numel(), ctx.threads());
    } else if (!own_kernel() && function_ != OutputActivation::Function::kNone) {
      // XNNPACK clamps but has no SiLU or HardSwish: a second pass, in place (FuseActivations puts them
      // only on convolutions without a clamp, so clamping again changes nothing).
      apply_activation_f32(activation(), y, y, ctx.output(0).numel(), ctx.threads());
    }
  }

 private:
  OutputActivation activation() const { return {range_.min, range_.max, function_}; }
  // The convolution runs on one of the own kernels (which apply the activation and a residual as they store).
  bool own_kernel() const { return use_winograd_ || use_depthwise_ || igemm_; }

  static OutputActivation::Function function_of(const Node& node) {
    const std::string f = node.attr_string("fused_function", "");
    if (f.empty()) return OutputActivation::Function::kNone;
    if (f == "Silu") return OutputActivation::Function::kSilu;
    if (f == "HardSwish") return OutputActivation::Function::kHardSwish;
    throw Error(ErrorCode::kInvalidModel, node.describe() + ": unknown fused_function '" + f + "'");
  }

  // The optional input 3, written by FuseChannelScale: a per-image, per-channel scale [N, 1, 1, C] of X
  // (a squeeze-excitation gate). Where the weights are fewer than one image's inputs (the usual case
  // early in a network) they are scaled instead of X; otherwise X * scale is made in scratch.
  //
  // Scratch: [the kernel's][scaled weights or scaled X][the convolution before a broadcast residual].
  void prepare_extras(PrepareContext& ctx, size_t kernel_scratch) {
    scale_offset_ = (kernel_scratch + 63) / 64 * 64;
    conv_offset_ = scale_offset_;
    scale_weights_ = false;
    if (has_residual_ && !residual_direct_)
      ctx.request_scratch(conv_offset_ + static_cast<size_t>(shape_numel(conv_shape_)) * sizeof(float));
    if (!has_scale_) {
      ctx.request_scratch(kernel_scratch);
      return;
    }
    const Shape& x = ctx.input_shape(0);
    if (ctx.input_dtype(3) != DType::kFloat32 || ctx.input_shape(3) != Shape{x[0], 1, 1, x[3]})
      ctx.fail("expects a float32 channel scale of shape [" + std::to_string(x[0]) + ", 1, 1, " + std::to_string(x[3]) +
               "], got " + shape_str(ctx.input_shape(3)));
    scale_pixels_ = x[1] * x[2];
    scale_channels_ = x[3];
    const int64_t image = x[1] * x[2] * x[3];
    scale_weights_ = igemm_ && !use_winograd_ && x[0] == 1 && static_cast<int64_t>(igemm_->packed_floats()) < image;
    const size_t extra = scale_weights_ ? igemm_->packed_floats() : static_cast<size_t>(shape_numel(x));
    conv_offset_ = (scale_offset_ + extra * sizeof(float) + 63) / 64 * 64;
    ctx.request_scratch(conv_offset_ + (has_residual_ && !residual_direct_
                                            ? static_cast<size_t>(shape_numel(conv_shape_)) * sizeof(float)
                                            : 0));
  }

  // The optional input 4, written by FuseResidualAdd: a value added to the convolution's output before
  // its activation. Of the output's shape in residual networks; one that broadcasts (NHWC, 4-D) gives
  // the broadcast shape, as the Add it replaces did.
  void set_output_with_residual(PrepareContext& ctx) {
    residual_direct_ = true;
    if (!has_residual_) {
      ctx.set_output(0, DType::kFloat32, conv_shape_);
      return;
    }
    const Shape& r = ctx.input_shape(4);
    if (ctx.input_dtype(4) != DType::kFloat32 || r.size() != 4)
      ctx.fail("expects a 4-D float32 residual, got " + shape_str(r));
    Shape out(4);
    for (size_t i = 0; i < 4; ++i) {
      if (r[i] != conv_shape_[i] && r[i] != 1 && conv_shape_[i] != 1)
        ctx.fail("residual " + shape_str(r) + " does not broadcast with the output " + shape_str(conv_shape_));
      out[i] = r[i] == 1 ? conv_shape_[i] : r[i];
    }
    residual_direct_ = r == conv_shape_;
    ctx.set_output(0, DType::kFloat32, out);
  }

  // y = conv + residual, broadcasting either (NHWC, 4-D).
  void add_residual(const float* conv, const float* residual, float* y, const Shape& r, ThreadPool* threads) const {
    const Shape& c = conv_shape_;
    if (r == c) {
      const int64_t n = shape_numel(c);
      auto work = [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) y[i] = conv[i] + residual[i];
      };
      if (threads && n >= (int64_t{1} << 15)) threads->parallel_for(n, 4096, work);
      else work(0, n);
      return;
    }
    Shape out(4);
    for (size_t i = 0; i < 4; ++i) out[i] = std::max(c[i], r[i]);
    auto at = [](const Shape& s, int64_t n, int64_t h, int64_t w, int64_t k) {
      return (((s[0] == 1 ? 0 : n) * s[1] + (s[1] == 1 ? 0 : h)) * s[2] + (s[2] == 1 ? 0 : w)) * s[3] + (s[3] == 1 ? 0 : k);
    };
    for (int64_t n = 0; n < out[0]; ++n)
      for (int64_t h = 0; h < out[1]; ++h)
        for (int64_t w = 0; w < out[2]; ++w)
          for (int64_t k = 0; k < out[3]; ++k)
            *y++ = conv[at(c, n, h, w, k)] + residual[at(r, n, h, w, k)];
  }

  // out[n][p][c] = x[n][p][c] * scale[n][c].
  void scale_channels(const float* x, const float* scale, float* out, ThreadPool* threads) const {
    const int64_t c = scale_channels_, pixels = static_cast<int64_t>(batch_) * scale_pixels_;
    auto work = [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const float* s = scale + p / scale_pixels_ * c;
        const float* in = x + p * c;
        float* o = out + p * c;
        for (int64_t i = 0; i < c; ++i) o[i] = in[i] * s[i];
      }
    };
    if (threads && pixels * c >= (int64_t{1} << 15)) threads->parallel_for(pixels, 16, work);
    else work(0, pixels);
  }

  void create_operator(PrepareContext& ctx, const WindowGeometry& g, int64_t channels, int64_t out_channels,
                       const Shape& w) {
    const float* weights = ctx.require_value(1).data<float>();
    const float* bias = ctx.has_input(2) ? ctx.require_value(2).data<float>() : nullptr;
    // XNNPACK reads [group][M/group][kH][kW][C/group]: move the input channel innermost.
    const int64_t group_in = w[1], taps = w[2] * w[3];
    std::vector<float> ohwi(static_cast<size_t>(shape_numel(w)));
    for (int64_t m = 0; m < out_channels; ++m)
      for (int64_t c = 0; c < group_in; ++c)
        for (int64_t t = 0; t < taps; ++t)
          ohwi[(m * taps + t) * group_in + c] = weights[(m * group_in + c) * taps + t];
    xnn_operator_t op = nullptr;
    check_xnn(xnn_create_convolution2d_nhwc_f32(
                  static_cast<uint32_t>(g.pad_begin[0]), static_cast<uint32_t>(g.pad_end[1]),
                  static_cast<uint32_t>(g.pad_end[0]), static_cast<uint32_t>(g.pad_begin[1]),
                  static_cast<uint32_t>(w[2]), static_cast<uint32_t>(w[3]), static_cast<uint32_t>(g.stride[0]),
                  static_cast<uint32_t>(g.stride[1]), static_cast<uint32_t>(g.dilation[0]),
                  static_cast<uint32_t>(g.dilation[1]), static_cast<uint32_t>(group_), group_in, out_channels / group_,
                  channels, out_channels, ohwi.data(), bias, has_residual_ ? -kInf : range_.min,
                  has_residual_ ? kInf : range_.max, 0, &op),
              ctx.node(), "xnn_create_convolution2d_nhwc_f32");
    op_.reset(op);
  }

  WindowAttributes attrs_;
  int64_t group_;
  OutputRange range_;
  OutputActivation::Function function_;  // fused_function (Silu, HardSwish), written by FuseActivations
  bool has_scale_;
  bool has_residual_;
  bool residual_direct_ = true;  // the residual has the convolution's output shape
  Shape conv_shape_;
  bool scale_weights_ = false;
  size_t scale_offset_ = 0, conv_offset_ = 0;
  int64_t scale_pixels_ = 0, scale_channels_ = 0;
  XnnOperator op_;
  std::unique_ptr<ConvIgemmF32> igemm_;
  std::unique_ptr<ConvWinogradF32> winograd_;
  bool use_winograd_ = false;
  std::unique_ptr<ConvDepthwiseF32> depthwise_;
  bool use_depthwise_ = false;
  std::vector<int64_t> pads_;
  size_t batch_ = 0, height_ = 0, width_ = 0;
  bool empty_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "ConvNhwc", ConvNhwc);

}  // namespace edgerun

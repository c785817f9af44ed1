// edgerun.QConvNhwc: 2-D int8 convolution on NHWC tensors with constant int8 weights (per-channel
// weight scales; a per-tensor scale is the one-value case). Inputs and attributes are those of ONNX
// QLinearConv (W in ONNX layout [M, C/group, kH, kW], zero weight zero points, optional int32 bias),
// plus an optional fused int8 output clamp.
//
// Where it runs:
//  - AVX2 CPUs, group 1: PointwiseConvInt8 (see its header), directly on the input for 1x1 stride-1
//    convolutions, otherwise on im2col rows of kH*kW*C values gathered (widened to int16) into the
//    scratch; about 15 % faster than XNNPACK's int8 igemm here, and far faster for few channels.
//  - AVX2 CPUs, depthwise (group == channels == output channels; up to 64 taps, rows not dilated):
//    DepthwiseConvInt8.
//  - otherwise XNNPACK's qc8 convolution (other grouped convolutions always). Convolutions with
//    fewer than 8 input channels (3-channel stems) still go through im2col and a 1x1 qc8 operator:
//    XNNPACK pads every kernel tap's channels to 8, the gathered rows only once.
#include <algorithm>
#include <cstring>

#include "kernels/quantized/depthwise_conv_int8.h"
#include "kernels/quantized/pointwise_conv_int8.h"
#include "kernels/reference/window_geometry.h"
#include "kernels/xnnpack/int8_params.h"
#include "runtime/thread_pool.h"

namespace edgerun {
namespace {

class QConvNhwc final : public Kernel {
 public:
  QConvNhwc(const Node& node, int64_t)
      : attrs_(WindowAttributes::from_node(node)), group_(node.attr_int("group", 1)), range_(Int8Range::from_node(node)) {
    if (group_ < 1) throw Error(ErrorCode::kInvalidModel, node.describe() + ": group must be positive");
  }

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kInt8 || ctx.input_dtype(3) != DType::kInt8) ctx.fail("expects int8 X and W");
    const Shape& x = ctx.input_shape(0);  // N, H, W, C
    const Shape& w = ctx.input_shape(3);  // M, C/group, kH, kW
    if (x.size() != 4 || w.size() != 4)
      ctx.fail("expects 4-D X (NHWC) and W, got " + shape_str(x) + " and " + shape_str(w));
    const int64_t channels = x[3], out_channels = w[0];
    if (channels % group_ != 0 || out_channels % group_ != 0 || w[1] * group_ != channels)
      ctx.fail("W shape " + shape_str(w) + " does not match " + std::to_string(channels) + " input channels in " +
               std::to_string(group_) + " groups");
    if (ctx.has_input(8) && (ctx.input_dtype(8) != DType::kInt32 || ctx.input_shape(8) != Shape{out_channels}))
      ctx.fail("B must be int32 with shape [" + std::to_string(out_channels) + "]");
    if (!attrs_.kernel_shape.empty() && attrs_.kernel_shape != std::vector<int64_t>{w[2], w[3]})
      ctx.fail("kernel_shape attribute does not match W shape " + shape_str(w));
    const WindowGeometry g = resolve_window(ctx, attrs_, {x[1], x[2]}, {w[2], w[3]});
    ctx.set_output(0, DType::kInt8, {x[0], g.out[0], g.out[1], out_channels});
    batch_ = x[0];
    height_ = x[1];
    width_ = x[2];
    empty_ = shape_numel(x) == 0 || g.out[0] * g.out[1] == 0;
    geometry_ = g;
    channels_ = channels;
    row_ = w[2] * w[3] * channels;
    pixels_ = x[0] * g.out[0] * g.out[1];
    const bool unit_window = w[2] == 1 && w[3] == 1 && g.stride[0] == 1 && g.stride[1] == 1 && g.pad_begin[0] == 0 &&
                             g.pad_begin[1] == 0 && g.pad_end[0] == 0 && g.pad_end[1] == 0;
    // With the AVX2 pointwise kernel every ungrouped convolution is a GEMM over gathered rows.
    im2col_ = group_ == 1 && !unit_window &&
              ((channels < kIm2colMaxChannels && w[2] * w[3] > 1) || PointwiseConvInt8::supported());
    pointwise_ = PointwiseConvInt8::supported() && group_ == 1;
    depthwise_ = DepthwiseConvInt8::supported() && group_ == channels && out_channels == channels &&
                 DepthwiseConvInt8::handles(w[2], w[3], g.dilation[0]);
    if (!pointwise_ && im2col_) ctx.request_scratch(static_cast<size_t>(pixels_ * row_) + XNN_EXTRA_BYTES);
    const std::vector<int64_t> pads = {g.pad_begin[0], g.pad_begin[1], g.pad_end[0], g.pad_end[1]};
    if (!(prepared_ && pads == pads_)) {  // else the same operator (and packed weights) for new input sizes
      pads_ = pads;
      create_operator(ctx, g, channels, out_channels, w);
      prepared_ = true;
    }
    // The pointwise kernel widens its rows to int16 in the scratch; im2col gathers straight into it.
    // Kernel rows of at most 32 bytes (a 3-channel stem's 9 or 21) are gathered from a copy of the whole
    // input already made unsigned, one 32-byte move each, behind the rows in the scratch.
    short_rows_ = pointwise_ && im2col_ && pointwise_conv_.unsigned_rows() && g.dilation[1] == 1 &&
                  g.kernel[1] * channels > 0 && g.kernel[1] * channels <= 32;
    if (pointwise_) {
      size_t bytes = pointwise_conv_.scratch_bytes(pixels_);
      if (short_rows_) {
        unsigned_input_offset_ = (bytes + 63) / 64 * 64;
        bytes = unsigned_input_offset_ + static_cast<size_t>(shape_numel(x)) + 32;
      }
      ctx.request_scratch(bytes);
    }
    if (depthwise_) {
      ConvNhwcGeometry dg;
      dg.batch = x[0];
      dg.in_h = x[1];
      dg.in_w = x[2];
      dg.out_h = g.out[0];
      dg.out_w = g.out[1];
      dg.stride_h = g.stride[0];
      dg.stride_w = g.stride[1];
      dg.dilation_h = g.dilation[0];
      dg.dilation_w = g.dilation[1];
      dg.pad_top = g.pad_begin[0];
      dg.pad_left = g.pad_begin[1];
      depthwise_conv_.set_geometry(dg);
      ctx.request_scratch(depthwise_conv_.scratch_bytes());
    }
  }

  void run(RunContext& ctx) override {
    if (empty_) return;
    pthreadpool_t threads = pthreads_of(ctx);
    if (depthwise_) {
      depthwise_conv_.run(ctx.input(0).data<int8_t>(), ctx.output(0).data<int8_t>(), ctx.scratch(), ctx.threads());
      return;
    }
    if (short_rows_) {
      uint8_t* rows = static_cast<uint8_t*>(ctx.scratch());
      uint8_t* input = rows + unsigned_input_offset_;
      PointwiseConvInt8::to_unsigned_long(ctx.input(0).data<int8_t>(), input,
                                          static_cast<int64_t>(batch_ * height_ * width_) * channels_);
      for_output_rows(ctx.threads(), [&](int64_t begin, int64_t end) {
        gather_short(input, rows, pointwise_conv_.row_stride(), begin, end);
      });
      pointwise_conv_.run_prepared(rows, ctx.output(0).data<int8_t>(), pixels_, ctx.threads());
      return;
    }
    if (pointwise_ && im2col_) {
      if (pointwise_conv_.unsigned_rows())
        gather_rows(ctx.input(0).data<int8_t>(), static_cast<uint8_t*>(ctx.scratch()), pointwise_conv_.row_stride(),
                    ctx.threads());
      else
        gather_rows(ctx.input(0).data<int8_t>(), static_cast<int16_t*>(ctx.scratch()), pointwise_conv_.row_stride(),
                    ctx.threads());
      pointwise_conv_.run_prepared(ctx.scratch(), ctx.output(0).data<int8_t>(), pixels_, ctx.threads());
      return;
    }
    if (pointwise_) {
      pointwise_conv_.run(ctx.input(0).data<int8_t>(), ctx.output(0).data<int8_t>(), pixels_, ctx.scratch(),
                          ctx.threads());
      return;
    }
    if (im2col_) {
      int8_t* rows = static_cast<int8_t*>(ctx.scratch());
      gather_rows(ctx.input(0).data<int8_t>(), rows, row_, ctx.threads());
      check_xnn(xnn_setup_convolution2d_nhwc_qc8(op_.get(), batch_, geometry_.out[0], geometry_.out[1], rows,
                                                 ctx.output(0).data<int8_t>(), threads),
                ctx.node(), "xnn_setup_convolution2d_nhwc_qc8");
    } else {
      check_xnn(xnn_setup_convolution2d_nhwc_qc8(op_.get(), batch_, height_, width_, ctx.input(0).data<int8_t>(),
                                                 ctx.output(0).data<int8_t>(), threads),
                ctx.node(), "xnn_setup_convolution2d_nhwc_qc8");
    }
    check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
  }

 private:
  void create_operator(PrepareContext& ctx, const WindowGeometry& g, int64_t channels, int64_t out_channels,
                       const Shape& w) {
    const Int8Scalar xq = read_int8_quant(ctx, 1, 2);
    const Int8Scalar yq = read_int8_quant(ctx, 6, 7);
    const std::vector<float> w_scales = read_weight_scales(ctx, 4, 5, out_channels);
    const int8_t* weights = ctx.require_value(3).data<int8_t>();
    const int32_t* bias = ctx.has_input(8) ? ctx.require_value(8).data<int32_t>() : nullptr;
    // XNNPACK reads [group][M/group][kH][kW][C/group]: move the input channel innermost.
    const int64_t group_in = w[1], taps = w[2] * w[3];
    std::vector<int8_t> ohwi(static_cast<size_t>(shape_numel(w)));
    if (taps == 1) std::memcpy(ohwi.data(), weights, ohwi.size());
    else
      for (int64_t m = 0; m < out_channels; ++m)
        for (int64_t c = 0; c < group_in; ++c)
          for (int64_t t = 0; t < taps; ++t) ohwi[(m * taps + t) * group_in + c] = weights[(m * group_in + c) * taps + t];
    x_zero_point_ = xq.zero_point;
    if (depthwise_) {  // ONNX layout [C][1][kH][kW] as it is
      depthwise_conv_.pack(weights, channels, w[2], w[3], bias, w_scales.data(), xq.zero_point, xq.scale, yq.zero_point,
                           yq.scale, range_.min, range_.max);
      return;
    }
    if (pointwise_) {  // rows of [kH][kW][C] values: the OHWI weights are [M][K] as they are
      pointwise_conv_.pack(ohwi.data(), out_channels, row_, bias, w_scales.data(), xq.zero_point, xq.scale,
                           yq.zero_point, yq.scale, range_.min, range_.max);
      return;
    }
    xnn_operator_t op = nullptr;
    if (im2col_) {  // a 1x1 convolution over rows of [kH][kW][C] values: the OHWI weights as they are
      check_xnn(xnn_create_convolution2d_nhwc_qc8(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, row_, out_channels, row_, out_channels,
                                                  xq.zero_point, xq.scale, w_scales.data(), ohwi.data(), bias,
                                                  yq.zero_point, yq.scale, range_.min, range_.max, 0, &op),
                ctx.node(), "xnn_create_convolution2d_nhwc_qc8");
      op_.reset(op);
      return;
    }
    check_xnn(xnn_create_convolution2d_nhwc_qc8(
                  static_cast<uint32_t>(g.pad_begin[0]), static_cast<uint32_t>(g.pad_end[1]),
                  static_cast<uint32_t>(g.pad_end[0]), static_cast<uint32_t>(g.pad_begin[1]),
                  static_cast<uint32_t>(w[2]), static_cast<uint32_t>(w[3]), static_cast<uint32_t>(g.stride[0]),
                  static_cast<uint32_t>(g.stride[1]), static_cast<uint32_t>(g.dilation[0]),
                  static_cast<uint32_t>(g.dilation[1]), static_cast<uint32_t>(group_), group_in, out_channels / group_,
                  channels, out_channels, xq.zero_point, xq.scale, w_scales.data(), ohwi.data(), bias, yq.zero_point,
                  yq.scale, range_.min, range_.max, 0, &op),
              ctx.node(), "xnn_create_convolution2d_nhwc_qc8");
    op_.reset(op);
  }

  // rows[n][oy][ox][ky][kx][c] = x[n][oy*sh - pad + ky*dh][ox*sw - pad + kx*dw][c], the zero point outside;
  // int8 rows for XNNPACK, int16 or unsigned rows (converted on the way) for the pointwise kernel,
  // `stride` apart.
  template <typename T>
  void gather_rows(const int8_t* x, T* rows, int64_t stride, ThreadPool* threads) const {
    for_output_rows(threads, [&](int64_t begin, int64_t end) { gather(x, rows, stride, begin, end); });
  }

  // fn(begin, end) over the output rows (batch x out_h), split over the threads.
  template <typename Fn>
  void for_output_rows(ThreadPool* threads, Fn&& fn) const {
    const int64_t out_rows = static_cast<int64_t>(batch_) * geometry_.out[0];
    if (threads && out_rows > 1) threads->parallel_for(out_rows, 1, [&fn](int64_t b, int64_t e) { fn(b, e); });
    else fn(0, out_rows);
  }

  // gather() for kernel rows of at most 32 bytes from the unsigned input: each kernel row inside the
  // image is one 32-byte move. Its surplus lands where this call writes later (the next kernel row, the
  // zeros after the last, the next pixel's row); near the end of its rows, where the next are another
  // thread's, the moves are exact.
  void gather_short(const uint8_t* input, uint8_t* rows, int64_t stride, int64_t begin, int64_t end) const {
    const WindowGeometry& g = geometry_;
    const int64_t in_h = static_cast<int64_t>(height_), in_w = static_cast<int64_t>(width_), c = channels_;
    const int64_t run = g.kernel[1] * c;
    const uint8_t padding = static_cast<uint8_t>(x_zero_point_ ^ 0x80);
    const uint8_t* rows_end = rows + end * g.out[1] * stride;
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / g.out[0], oy = r % g.out[0];
      for (int64_t ox = 0; ox < g.out[1]; ++ox) {
        uint8_t* row = rows + (r * g.out[1] + ox) * stride;
        uint8_t* dst = row;
        for (int64_t ky = 0; ky < g.kernel[0]; ++ky, dst += run) {
          const int64_t iy = oy * g.stride[0] - g.pad_begin[0] + ky * g.dilation[0];
          const int64_t ix0 = ox * g.stride[1] - g.pad_begin[1];
          const bool row_inside = iy >= 0 && iy < in_h;
          const uint8_t* image_row = input + (n * in_h + (row_inside ? iy : 0)) * in_w * c;
          if (row_inside && ix0 >= 0 && ix0 + g.kernel[1] <= in_w) {
            if (dst + 32 <= rows_end) std::memcpy(dst, image_row + ix0 * c, 32);
            else std::memcpy(dst, image_row + ix0 * c, static_cast<size_t>(run));
            continue;
          }
          for (int64_t kx = 0; kx < g.kernel[1]; ++kx) {
            const int64_t ix = ix0 + kx;
            if (!row_inside || ix < 0 || ix >= in_w) std::memset(dst + kx * c, padding, static_cast<size_t>(c));
            else std::memcpy(dst + kx * c, image_row + ix * c, static_cast<size_t>(c));
          }
        }
        std::memset(row + row_, 0, static_cast<size_t>(stride - row_));  // after the moves' surplus
      }
    }
  }

  static void copy(const int8_t* src, int8_t* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n)); }
  static void copy(const int8_t* src, int16_t* dst, int64_t n) { PointwiseConvInt8::widen(src, dst, n); }
  static void copy(const int8_t* src, uint8_t* dst, int64_t n) { PointwiseConvInt8::to_unsigned(src, dst, n); }
  // An input value as a row element of type T (unsigned rows hold x + 128).
  static int8_t as_row(int8_t v, int8_t*) { return v; }
  static int16_t as_row(int8_t v, int16_t*) { return v; }
  static uint8_t as_row(int8_t v, uint8_t*) { return static_cast<uint8_t>(v ^ 0x80); }

  template <typename T>
  void gather(const int8_t* x, T* rows, int64_t stride, int64_t begin, int64_t end) const {
    const WindowGeometry& g = geometry_;
    const int64_t in_h = static_cast<int64_t>(height_), in_w = static_cast<int64_t>(width_), c = channels_;
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / g.out[0], oy = r % g.out[0];
      for (int64_t ox = 0; ox < g.out[1]; ++ox) {
        T* dst = rows + (r * g.out[1] + ox) * stride;
        std::fill(dst + row_, dst + stride, T{0});  // the pointwise kernel's padding to whole k-steps
        for (int64_t ky = 0; ky < g.kernel[0]; ++ky) {
          const int64_t iy = oy * g.stride[0] - g.pad_begin[0] + ky * g.dilation[0];
          const int64_t ix0 = ox * g.stride[1] - g.pad_begin[1];
          if (g.dilation[1] == 1 && iy >= 0 && iy < in_h && ix0 >= 0 && ix0 + g.kernel[1] <= in_w) {
            copy(x + ((n * in_h + iy) * in_w + ix0) * c, dst, g.kernel[1] * c);  // the whole kernel row at once
            dst += g.kernel[1] * c;
            continue;
          }
          for (int64_t kx = 0; kx < g.kernel[1]; ++kx, dst += c) {
            const int64_t ix = ox * g.stride[1] - g.pad_begin[1] + kx * g.dilation[1];
            if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) std::fill_n(dst, c, as_row(x_zero_point_, dst));
            else copy(x + ((n * in_h + iy) * in_w + ix) * c, dst, c);
          }
        }
      }
    }
  }

  static constexpr int64_t kIm2colMaxChannels = 8;

  WindowAttributes attrs_;
  int64_t group_;
  Int8Range range_;
  XnnOperator op_;
  std::vector<int64_t> pads_;
  size_t batch_ = 0, height_ = 0, width_ = 0;
  bool empty_ = false;
  bool im2col_ = false, pointwise_ = false, depthwise_ = false, prepared_ = false;
  bool short_rows_ = false;             // gather_short from an unsigned copy of the input
  size_t unsigned_input_offset_ = 0;    // where that copy is in the scratch
  WindowGeometry geometry_;
  int64_t channels_ = 0, row_ = 0, pixels_ = 0;
  PointwiseConvInt8 pointwise_conv_;
  DepthwiseConvInt8 depthwise_conv_;
  int8_t x_zero_point_ = 0;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "QConvNhwc", QConvNhwc);

}  // namespace edgerun

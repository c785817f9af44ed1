// Conv (1-D to 3-D, groups, strides, dilations, pads/auto_pad, optional bias).
// float32 runs as GEMM: 1x1/stride-1/unpadded kernels multiply the weights by the input directly, depthwise
// convolutions use a direct loop, everything else goes through im2col in chunks of output rows. Other float
// types use a direct loop with a wider accumulator.
#include <algorithm>

#include "kernels/common.h"
#include "kernels/kernel.h"
#include "kernels/reference/gemm_f32.h"
#include "kernels/reference/window_geometry.h"

namespace edgerun {
namespace {

// Upper bound on the im2col buffer (floats); larger problems are processed in chunks of output rows.
constexpr int64_t kIm2colBudget = int64_t{1} << 21;

size_t align64(size_t n) { return (n + 63) / 64 * 64; }

template <typename T> struct Accumulator { using type = float; };
template <> struct Accumulator<double> { using type = double; };

class Conv final : public Kernel {
 public:
  Conv(const Node& node, int64_t opset) : attrs_(WindowAttributes::from_node(node)), group_(node.attr_int("group", 1)) {
    if (group_ < 1) throw Error(ErrorCode::kInvalidModel, node.describe() + ": group must be positive");
  }

  void prepare(PrepareContext& ctx) override {
    const DType dt = ctx.input_dtype(0);
    if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kFloat16 && dt != DType::kBFloat16)
      ctx.fail(std::string("X must be a float tensor, got ") + dtype_name(dt));
    if (ctx.input_dtype(1) != dt)
      ctx.fail(std::string("W has dtype ") + dtype_name(ctx.input_dtype(1)) + ", expected " + dtype_name(dt));
    const Shape& x = ctx.input_shape(0);
    const Shape& w = ctx.input_shape(1);
    if (x.size() < 3) ctx.fail("X must have rank >= 3 (N, C, spatial...), got shape " + shape_str(x));
    if (w.size() != x.size())
      ctx.fail("W has shape " + shape_str(w) + ", expected rank " + std::to_string(x.size()) + " like X " + shape_str(x));
    const size_t rank = x.size() - 2;
    if (rank > 3) ctx.unsupported("convolutions with more than 3 spatial dimensions");
    batch_ = x[0];
    in_channels_ = x[1];
    out_channels_ = w[0];
    if (in_channels_ % group_ != 0)
      ctx.fail("input channels " + std::to_string(in_channels_) + " not divisible by group " + std::to_string(group_));
    if (out_channels_ % group_ != 0)
      ctx.fail("output channels " + std::to_string(out_channels_) + " not divisible by group " + std::to_string(group_));
    if (w[1] * group_ != in_channels_)
      ctx.fail("W has shape " + shape_str(w) + ": dimension 1 should be C/group = " + std::to_string(in_channels_ / group_));
    has_bias_ = ctx.has_input(2);
    if (has_bias_) {
      if (ctx.input_dtype(2) != dt) ctx.fail(std::string("B has dtype ") + dtype_name(ctx.input_dtype(2)) + ", expected " + dtype_name(dt));
      if (ctx.input_shape(2) != Shape{out_channels_})
        ctx.fail("B has shape " + shape_str(ctx.input_shape(2)) + ", expected [" + std::to_string(out_channels_) + "]");
    }
    const std::vector<int64_t> kernel(w.begin() + 2, w.end());
    if (!attrs_.kernel_shape.empty() && attrs_.kernel_shape != kernel)
      ctx.fail("kernel_shape attribute does not match W shape " + shape_str(w));
    geo_ = resolve_window(ctx, attrs_, std::vector<int64_t>(x.begin() + 2, x.end()), kernel);
    win_ = to_window3(geo_);
    Shape y = {batch_, out_channels_};
    y.insert(y.end(), geo_.out.begin(), geo_.out.end());
    ctx.set_output(0, dt, y);

    dtype_ = dt;
    group_in_ = in_channels_ / group_;
    group_out_ = out_channels_ / group_;
    in_size_ = geo_.in_size();
    out_size_ = geo_.out_size();
    kernel_size_ = geo_.kernel_size();
    ow_lo_.assign(win_.kernel[2], 0);
    ow_hi_.assign(win_.kernel[2], 0);
    interior_lo_ = 0;
    interior_hi_ = win_.out[2];
    for (int64_t kw = 0; kw < win_.kernel[2]; ++kw) {
      valid_output_range(win_.in[2], win_.out[2], win_.stride[2], win_.pad[2], kw * win_.dilation[2], &ow_lo_[kw],
                         &ow_hi_[kw]);
      interior_lo_ = std::max(interior_lo_, ow_lo_[kw]);
      interior_hi_ = std::min(interior_hi_, ow_hi_[kw]);
    }
    interior_hi_ = std::max(interior_hi_, interior_lo_);
    if (dt != DType::kFloat32 || out_size_ == 0 || batch_ == 0) {
      path_ = Path::kDirect;
      return;
    }
    bool pointwise = true;
    for (size_t i = 0; i < rank; ++i)
      pointwise = pointwise && geo_.kernel[i] == 1 && geo_.stride[i] == 1 && geo_.pad_begin[i] == 0 && geo_.pad_end[i] == 0;
    if (pointwise) {
      path_ = Path::kPointwise;
      ctx.request_scratch(gemm_f32_workspace_bytes(group_out_, out_size_, group_in_));
    } else if (group_in_ == 1 && group_ > 1) {
      path_ = Path::kDepthwise;
    } else {
      path_ = Path::kIm2col;
      const int64_t rows_total = win_.out[0] * win_.out[1];
      const int64_t col_rows = group_in_ * kernel_size_;
      chunk_rows_ = std::clamp<int64_t>(kIm2colBudget / std::max<int64_t>(col_rows * win_.out[2], 1), 1, rows_total);
      const int64_t chunk_cols = chunk_rows_ * win_.out[2];
      col_bytes_ = align64(sizeof(float) * static_cast<size_t>(col_rows * chunk_cols));
      ctx.request_scratch(col_bytes_ + gemm_f32_workspace_bytes(group_out_, chunk_cols, col_rows));
    }
  }

  void run(RunContext& ctx) override {
    switch (path_) {
      case Path::kPointwise: return run_pointwise(ctx);
      case Path::kDepthwise: return run_depthwise(ctx);
      case Path::kIm2col: return run_im2col(ctx);
      case Path::kDirect: break;
    }
    dispatch_dtype<kFloats>(dtype_, [&](auto tag) { run_direct<decltype(tag)>(ctx); });
  }

 private:
  enum class Path { kDirect, kPointwise, kDepthwise, kIm2col };

  // Output planes start from the bias (GEMM then accumulates with beta = 1) or are overwritten (beta = 0).
  float init_with_bias(const float* bias, float* y_image) const {
    if (!bias) return 0.f;
    for (int64_t m = 0; m < out_channels_; ++m) std::fill(y_image + m * out_size_, y_image + (m + 1) * out_size_, bias[m]);
    return 1.f;
  }

  void run_pointwise(RunContext& ctx) {
    const float* x = ctx.input(0).data<float>();
    const float* w = ctx.input(1).data<float>();
    const float* bias = has_bias_ ? ctx.input(2).data<float>() : nullptr;
    float* y = ctx.output(0).data<float>();
    for (int64_t n = 0; n < batch_; ++n) {
      float* y_image = y + n * out_channels_ * out_size_;
      const float beta = init_with_bias(bias, y_image);
      for (int64_t g = 0; g < group_; ++g) {
        const MatrixRef a{w + g * group_out_ * group_in_, group_in_, 1};
        const MatrixRef b{x + (n * in_channels_ + g * group_in_) * in_size_, in_size_, 1};
        gemm_f32(group_out_, out_size_, group_in_, 1.f, a, b, beta, y_image + g * group_out_ * out_size_, out_size_,
                 ctx.scratch());
      }
    }
  }

  // Fills col[q][(r - r0) * OW + ow] for kernel taps q and output rows r in [r0, r1).
  void im2col(const float* x_group, int64_t r0, int64_t r1, float* col) const {
    const Window3& k = win_;
    const int64_t ow_count = k.out[2];
    const int64_t cols = (r1 - r0) * ow_count;
    float* dst = col;
    for (int64_t c = 0; c < group_in_; ++c) {
      const float* x_plane = x_group + c * in_size_;
      for (int64_t kd = 0; kd < k.kernel[0]; ++kd)
        for (int64_t kh = 0; kh < k.kernel[1]; ++kh)
          for (int64_t kw = 0; kw < k.kernel[2]; ++kw) {
            const int64_t lo = ow_lo_[kw], hi = ow_hi_[kw];
            const int64_t w_off = kw * k.dilation[2] - k.pad[2];
            for (int64_t r = r0; r < r1; ++r) {
              float* out_row = dst + (r - r0) * ow_count;
              const int64_t od = r / k.out[1], oh = r % k.out[1];
              const int64_t id = od * k.stride[0] - k.pad[0] + kd * k.dilation[0];
              const int64_t ih = oh * k.stride[1] - k.pad[1] + kh * k.dilation[1];
              if (id < 0 || id >= k.in[0] || ih < 0 || ih >= k.in[1]) {
                std::fill(out_row, out_row + ow_count, 0.f);
                continue;
              }
              const float* src = x_plane + (id * k.in[1] + ih) * k.in[2];
              std::fill(out_row, out_row + lo, 0.f);
              if (k.stride[2] == 1) {
                if (hi > lo) std::copy(src + lo + w_off, src + hi + w_off, out_row + lo);
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) out_row[ow] = src[ow * k.stride[2] + w_off];
              }
              std::fill(out_row + hi, out_row + ow_count, 0.f);
            }
            dst += cols;
          }
    }
  }

  void run_im2col(RunContext& ctx) {
    const float* x = ctx.input(0).data<float>();
    const float* w = ctx.input(1).data<float>();
    const float* bias = has_bias_ ? ctx.input(2).data<float>() : nullptr;
    float* y = ctx.output(0).data<float>();
    float* col = static_cast<float*>(ctx.scratch());
    void* workspace = static_cast<char*>(ctx.scratch()) + col_bytes_;
    const int64_t rows_total = win_.out[0] * win_.out[1];
    const int64_t col_rows = group_in_ * kernel_size_;
    for (int64_t n = 0; n < batch_; ++n) {
      float* y_image = y + n * out_channels_ * out_size_;
      const float beta = init_with_bias(bias, y_image);
      for (int64_t g = 0; g < group_; ++g) {
        const float* x_group = x + (n * in_channels_ + g * group_in_) * in_size_;
        const MatrixRef a{w + g * group_out_ * col_rows, col_rows, 1};
        for (int64_t r0 = 0; r0 < rows_total; r0 += chunk_rows_) {
          const int64_t r1 = std::min(rows_total, r0 + chunk_rows_);
          const int64_t cols = (r1 - r0) * win_.out[2];
          im2col(x_group, r0, r1, col);
          gemm_f32(group_out_, cols, col_rows, 1.f, a, MatrixRef{col, cols, 1}, beta,
                   y_image + g * group_out_ * out_size_ + r0 * win_.out[2], out_size_, workspace);
        }
      }
    }
  }

  // One input channel per group. Each output row accumulates one input row per (kd, kh) tap row: the columns
  // where every kw tap is inside the image take all taps in one pass, the border columns check each tap.
  void run_depthwise(RunContext& ctx) {
    const float* x = ctx.input(0).data<float>();
    const float* w = ctx.input(1).data<float>();
    const float* bias = has_bias_ ? ctx.input(2).data<float>() : nullptr;
    float* y = ctx.output(0).data<float>();
    const Window3& k = win_;
    const int64_t kw_count = k.kernel[2], sw = k.stride[2], dw = k.dilation[2], pw = k.pad[2];
    for (int64_t n = 0; n < batch_; ++n)
      for (int64_t m = 0; m < out_channels_; ++m) {
        const float* x_plane = x + (n * in_channels_ + m / group_out_) * in_size_;
        const float* w_m = w + m * kernel_size_;
        float* y_plane = y + (n * out_channels_ + m) * out_size_;
        std::fill(y_plane, y_plane + out_size_, bias ? bias[m] : 0.f);
        for (int64_t od = 0; od < k.out[0]; ++od)
          for (int64_t oh = 0; oh < k.out[1]; ++oh) {
            float* y_row = y_plane + (od * k.out[1] + oh) * k.out[2];
            for (int64_t kd = 0; kd < k.kernel[0]; ++kd) {
              const int64_t id = od * k.stride[0] - k.pad[0] + kd * k.dilation[0];
              if (id < 0 || id >= k.in[0]) continue;
              for (int64_t kh = 0; kh < k.kernel[1]; ++kh) {
                const int64_t ih = oh * k.stride[1] - k.pad[1] + kh * k.dilation[1];
                if (ih < 0 || ih >= k.in[1]) continue;
                const float* x_row = x_plane + (id * k.in[1] + ih) * k.in[2];
                const float* w_row = w_m + (kd * k.kernel[1] + kh) * kw_count;
                auto border = [&](int64_t from, int64_t to) {
                  for (int64_t ow = from; ow < to; ++ow) {
                    float acc = 0.f;
                    for (int64_t kw = 0; kw < kw_count; ++kw)
                      if (ow >= ow_lo_[kw] && ow < ow_hi_[kw]) acc += w_row[kw] * x_row[ow * sw + kw * dw - pw];
                    y_row[ow] += acc;
                  }
                };
                border(0, interior_lo_);
                border(interior_hi_, k.out[2]);
                if (interior_hi_ > interior_lo_) {
                  if (kw_count == 3 && sw == 1)
                    depthwise_row3(y_row + interior_lo_, x_row + interior_lo_ - pw, dw, w_row, interior_hi_ - interior_lo_);
                  else
                    for (int64_t kw = 0; kw < kw_count; ++kw) {
                      const float wv = w_row[kw];
                      const float* src = x_row + kw * dw - pw;
                      for (int64_t ow = interior_lo_; ow < interior_hi_; ++ow) y_row[ow] += wv * src[ow * sw];
                    }
                }
              }
            }
          }
      }
  }

  // y[i] += w0 * x[i] + w1 * x[i + d] + w2 * x[i + 2d]
  static void depthwise_row3(float* __restrict y, const float* __restrict x, int64_t d, const float* w, int64_t count) {
    const float w0 = w[0], w1 = w[1], w2 = w[2];
    const float* x1 = x + d;
    const float* x2 = x + 2 * d;
    for (int64_t i = 0; i < count; ++i) y[i] += w0 * x[i] + w1 * x1[i] + w2 * x2[i];
  }

  template <typename T>
  void run_direct(RunContext& ctx) {
    using Acc = typename Accumulator<T>::type;
    const T* x = ctx.input(0).data<T>();
    const T* w = ctx.input(1).data<T>();
    const T* bias = has_bias_ ? ctx.input(2).data<T>() : nullptr;
    T* y = ctx.output(0).data<T>();
    const Window3& k = win_;
    for (int64_t n = 0; n < batch_; ++n)
      for (int64_t m = 0; m < out_channels_; ++m) {
        const int64_t g = m / group_out_;
        const T* x_group = x + (n * in_channels_ + g * group_in_) * in_size_;
        const T* w_m = w + m * group_in_ * kernel_size_;
        T* y_plane = y + (n * out_channels_ + m) * out_size_;
        for (int64_t od = 0; od < k.out[0]; ++od)
          for (int64_t oh = 0; oh < k.out[1]; ++oh)
            for (int64_t ow = 0; ow < k.out[2]; ++ow) {
              Acc acc = bias ? static_cast<Acc>(bias[m]) : Acc(0);
              for (int64_t c = 0; c < group_in_; ++c)
                for (int64_t kd = 0; kd < k.kernel[0]; ++kd) {
                  const int64_t id = od * k.stride[0] - k.pad[0] + kd * k.dilation[0];
                  if (id < 0 || id >= k.in[0]) continue;
                  for (int64_t kh = 0; kh < k.kernel[1]; ++kh) {
                    const int64_t ih = oh * k.stride[1] - k.pad[1] + kh * k.dilation[1];
                    if (ih < 0 || ih >= k.in[1]) continue;
                    for (int64_t kw = 0; kw < k.kernel[2]; ++kw) {
                      const int64_t iw = ow * k.stride[2] - k.pad[2] + kw * k.dilation[2];
                      if (iw < 0 || iw >= k.in[2]) continue;
                      acc += static_cast<Acc>(x_group[(c * k.in[0] + id) * k.in[1] * k.in[2] + ih * k.in[2] + iw]) *
                             static_cast<Acc>(w_m[((c * k.kernel[0] + kd) * k.kernel[1] + kh) * k.kernel[2] + kw]);
                    }
                  }
                }
              y_plane[(od * k.out[1] + oh) * k.out[2] + ow] = static_cast<T>(acc);
            }
      }
  }

  WindowAttributes attrs_;
  int64_t group_;
  WindowGeometry geo_;
  Window3 win_{};
  DType dtype_ = DType::kFloat32;
  Path path_ = Path::kDirect;
  bool has_bias_ = false;
  int64_t batch_ = 0, in_channels_ = 0, out_channels_ = 0, group_in_ = 0, group_out_ = 0;
  int64_t in_size_ = 0, out_size_ = 0, kernel_size_ = 0, chunk_rows_ = 1;
  size_t col_bytes_ = 0;
  // Per kernel column kw: the output columns [lo, hi) whose input column is inside the image.
  std::vector<int64_t> ow_lo_, ow_hi_;
  // Output columns where every kernel column is inside the image.
  int64_t interior_lo_ = 0, interior_hi_ = 0;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Conv", Conv);
}  // namespace edgerun

// ConvTranspose (1-D to 3-D, groups, strides, dilations, pads/auto_pad, output_padding, output_shape).
// float32: per group, col = W^T * X by GEMM, then col2im scatters col into the output. Other float types
// scatter directly.
#include <algorithm>

#include "kernels/common.h"
#include "kernels/kernel.h"
#include "kernels/reference/gemm_f32.h"
#include "kernels/reference/window_geometry.h"

namespace edgerun {
namespace {

constexpr int64_t kColBudget = int64_t{1} << 21;  // floats per col chunk

size_t align64(size_t n) { return (n + 63) / 64 * 64; }

template <typename T> struct Accumulator { using type = float; };
template <> struct Accumulator<double> { using type = double; };

class ConvTranspose final : public Kernel {
 public:
  ConvTranspose(const Node& node, int64_t opset)
      : attrs_(WindowAttributes::from_node(node)), group_(node.attr_int("group", 1)),
        output_padding_(node.attr_ints("output_padding")), output_shape_(node.attr_ints("output_shape")) {
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
    if (w.size() != x.size()) ctx.fail("W has shape " + shape_str(w) + ", expected the rank of X " + shape_str(x));
    const size_t rank = x.size() - 2;
    if (rank > 3) ctx.unsupported("transposed convolutions with more than 3 spatial dimensions");
    batch_ = x[0];
    in_channels_ = x[1];
    if (w[0] != in_channels_)
      ctx.fail("W has shape " + shape_str(w) + ": dimension 0 should equal the input channels " + std::to_string(in_channels_));
    if (in_channels_ % group_ != 0)
      ctx.fail("input channels " + std::to_string(in_channels_) + " not divisible by group " + std::to_string(group_));
    group_in_ = in_channels_ / group_;
    group_out_ = w[1];
    out_channels_ = group_out_ * group_;
    has_bias_ = ctx.has_input(2);
    if (has_bias_) {
      if (ctx.input_dtype(2) != dt) ctx.fail(std::string("B has dtype ") + dtype_name(ctx.input_dtype(2)) + ", expected " + dtype_name(dt));
      if (ctx.input_shape(2) != Shape{out_channels_})
        ctx.fail("B has shape " + shape_str(ctx.input_shape(2)) + ", expected [" + std::to_string(out_channels_) + "]");
    }
    const std::vector<int64_t> kernel(w.begin() + 2, w.end());
    if (!attrs_.kernel_shape.empty() && attrs_.kernel_shape != kernel)
      ctx.fail("kernel_shape attribute does not match W shape " + shape_str(w));
    auto check_len = [&](const std::vector<int64_t>& v, size_t want, const char* name) {
      if (!v.empty() && v.size() != want)
        ctx.fail(std::string(name) + " has " + std::to_string(v.size()) + " values, expected " + std::to_string(want));
    };
    check_len(attrs_.strides, rank, "strides");
    check_len(attrs_.dilations, rank, "dilations");
    check_len(attrs_.pads, 2 * rank, "pads");
    check_len(output_padding_, rank, "output_padding");
    if (!output_shape_.empty() && output_shape_.size() != rank && output_shape_.size() != rank + 2)
      ctx.fail("output_shape has " + std::to_string(output_shape_.size()) + " values, expected " + std::to_string(rank));

    Window3 k{};
    const size_t lead = 3 - rank;
    for (size_t i = 0; i < 3; ++i) {
      k.in[i] = k.out[i] = k.kernel[i] = k.stride[i] = k.dilation[i] = 1;
      k.pad[i] = 0;
    }
    Shape y = {batch_, out_channels_};
    for (size_t i = 0; i < rank; ++i) {
      const size_t j = lead + i;
      const int64_t in = x[2 + i], kern = kernel[i];
      const int64_t s = attrs_.strides.empty() ? 1 : attrs_.strides[i];
      const int64_t d = attrs_.dilations.empty() ? 1 : attrs_.dilations[i];
      const int64_t op = output_padding_.empty() ? 0 : output_padding_[i];
      if (kern < 1 || s < 1 || d < 1) ctx.fail("kernel, strides and dilations must be positive");
      if (op < 0) ctx.fail("output_padding must be non-negative");
      const int64_t full = s * (in - 1) + op + (kern - 1) * d + 1;  // output size without padding
      int64_t pad_begin = 0, out = 0;
      const bool same = attrs_.auto_pad == AutoPad::kSameUpper || attrs_.auto_pad == AutoPad::kSameLower;
      if (!output_shape_.empty() || same) {
        out = !output_shape_.empty() ? output_shape_[output_shape_.size() - rank + i] : in * s;
        const int64_t total = full - out;
        // Upper puts the larger half of the padding at the end; floor division keeps that true when the
        // requested shape exceeds the natural one (negative padding).
        pad_begin = attrs_.auto_pad == AutoPad::kSameUpper ? floor_div(total, 2) : total - floor_div(total, 2);
      } else if (attrs_.auto_pad == AutoPad::kValid || attrs_.pads.empty()) {
        out = full;
      } else {
        pad_begin = attrs_.pads[i];
        const int64_t pad_end = attrs_.pads[i + rank];
        if (pad_begin < 0 || pad_end < 0) ctx.fail("pads must be non-negative");
        out = full - pad_begin - pad_end;
      }
      if (out < 0) ctx.fail("computed output size " + std::to_string(out) + " is negative for spatial dimension " + std::to_string(i));
      k.in[j] = in;
      k.out[j] = out;
      k.kernel[j] = kern;
      k.stride[j] = s;
      k.dilation[j] = d;
      k.pad[j] = pad_begin;
      y.push_back(out);
    }
    ctx.set_output(0, dt, y);
    win_ = k;
    dtype_ = dt;
    in_size_ = k.in[0] * k.in[1] * k.in[2];
    out_size_ = k.out[0] * k.out[1] * k.out[2];
    kernel_size_ = k.kernel[0] * k.kernel[1] * k.kernel[2];
    iw_lo_.assign(k.kernel[2], 0);
    iw_hi_.assign(k.kernel[2], 0);
    for (int64_t kw = 0; kw < k.kernel[2]; ++kw)
      valid_output_range(k.out[2], k.in[2], k.stride[2], k.pad[2], kw * k.dilation[2], &iw_lo_[kw], &iw_hi_[kw]);
    if (dt == DType::kFloat32 && in_size_ > 0) {
      const int64_t rows_total = k.in[0] * k.in[1];
      const int64_t col_rows = group_out_ * kernel_size_;
      chunk_rows_ = std::clamp<int64_t>(kColBudget / std::max<int64_t>(col_rows * k.in[2], 1), 1, rows_total);
      const int64_t chunk_cols = chunk_rows_ * k.in[2];
      col_bytes_ = align64(sizeof(float) * static_cast<size_t>(col_rows * chunk_cols));
      ctx.request_scratch(col_bytes_ + gemm_f32_workspace_bytes(col_rows, chunk_cols, group_in_));
    }
  }

  void run(RunContext& ctx) override {
    if (dtype_ == DType::kFloat32) return run_gemm(ctx);
    dispatch_dtype<kFloats>(dtype_, [&](auto tag) { run_direct<decltype(tag)>(ctx); });
  }

 private:
  // Adds col[q][(r - r0) * IW + iw] (q = output channel and kernel tap, r = input row) into the output planes.
  void col2im(const float* col, int64_t r0, int64_t r1, float* y_group) const {
    const Window3& k = win_;
    const int64_t cols = (r1 - r0) * k.in[2];
    const float* src = col;
    for (int64_t m = 0; m < group_out_; ++m) {
      float* y_plane = y_group + m * out_size_;
      for (int64_t kd = 0; kd < k.kernel[0]; ++kd)
        for (int64_t kh = 0; kh < k.kernel[1]; ++kh)
          for (int64_t kw = 0; kw < k.kernel[2]; ++kw) {
            const int64_t lo = iw_lo_[kw], hi = iw_hi_[kw];
            const int64_t w_off = kw * k.dilation[2] - k.pad[2];
            for (int64_t r = r0; r < r1; ++r) {
              const int64_t id = r / k.in[1], ih = r % k.in[1];
              const int64_t od = id * k.stride[0] - k.pad[0] + kd * k.dilation[0];
              const int64_t oh = ih * k.stride[1] - k.pad[1] + kh * k.dilation[1];
              if (od < 0 || od >= k.out[0] || oh < 0 || oh >= k.out[1]) continue;
              float* y_row = y_plane + (od * k.out[1] + oh) * k.out[2];
              const float* c_row = src + (r - r0) * k.in[2];
              for (int64_t iw = lo; iw < hi; ++iw) y_row[iw * k.stride[2] + w_off] += c_row[iw];
            }
            src += cols;
          }
    }
  }

  void run_gemm(RunContext& ctx) {
    const float* x = ctx.input(0).data<float>();
    const float* w = ctx.input(1).data<float>();
    const float* bias = has_bias_ ? ctx.input(2).data<float>() : nullptr;
    float* y = ctx.output(0).data<float>();
    for (int64_t n = 0; n < batch_; ++n)
      for (int64_t m = 0; m < out_channels_; ++m) {
        float* plane = y + (n * out_channels_ + m) * out_size_;
        std::fill(plane, plane + out_size_, bias ? bias[m] : 0.f);
      }
    if (in_size_ == 0 || out_size_ == 0) return;
    float* col = static_cast<float*>(ctx.scratch());
    void* workspace = static_cast<char*>(ctx.scratch()) + col_bytes_;
    const int64_t rows_total = win_.in[0] * win_.in[1];
    const int64_t col_rows = group_out_ * kernel_size_;
    for (int64_t n = 0; n < batch_; ++n)
      for (int64_t g = 0; g < group_; ++g) {
        const float* x_group = x + (n * in_channels_ + g * group_in_) * in_size_;
        float* y_group = y + (n * out_channels_ + g * group_out_) * out_size_;
        // W for this group is [group_in, col_rows]; the GEMM reads it transposed.
        const MatrixRef a{w + g * group_in_ * col_rows, 1, col_rows};
        for (int64_t r0 = 0; r0 < rows_total; r0 += chunk_rows_) {
          const int64_t r1 = std::min(rows_total, r0 + chunk_rows_);
          const int64_t cols = (r1 - r0) * win_.in[2];
          gemm_f32(col_rows, cols, group_in_, 1.f, a, MatrixRef{x_group + r0 * win_.in[2], in_size_, 1}, 0.f, col, cols,
                   workspace);
          col2im(col, r0, r1, y_group);
        }
      }
  }

  template <typename T>
  void run_direct(RunContext& ctx) {
    using Acc = typename Accumulator<T>::type;
    const T* x = ctx.input(0).data<T>();
    const T* w = ctx.input(1).data<T>();
    const T* bias = has_bias_ ? ctx.input(2).data<T>() : nullptr;
    T* y = ctx.output(0).data<T>();
    const Window3& k = win_;
    // Accumulate in the output type's wider accumulator one output plane at a time: gather form, so every
    // output element is written once.
    for (int64_t n = 0; n < batch_; ++n)
      for (int64_t m = 0; m < out_channels_; ++m) {
        const int64_t g = m / group_out_, mg = m % group_out_;
        T* y_plane = y + (n * out_channels_ + m) * out_size_;
        for (int64_t od = 0; od < k.out[0]; ++od)
          for (int64_t oh = 0; oh < k.out[1]; ++oh)
            for (int64_t ow = 0; ow < k.out[2]; ++ow) {
              Acc acc = bias ? static_cast<Acc>(bias[m]) : Acc(0);
              for (int64_t kd = 0; kd < k.kernel[0]; ++kd) {
                const int64_t td = od + k.pad[0] - kd * k.dilation[0];
                if (td < 0 || td % k.stride[0] != 0 || td / k.stride[0] >= k.in[0]) continue;
                for (int64_t kh = 0; kh < k.kernel[1]; ++kh) {
                  const int64_t th = oh + k.pad[1] - kh * k.dilation[1];
                  if (th < 0 || th % k.stride[1] != 0 || th / k.stride[1] >= k.in[1]) continue;
                  for (int64_t kw = 0; kw < k.kernel[2]; ++kw) {
                    const int64_t tw = ow + k.pad[2] - kw * k.dilation[2];
                    if (tw < 0 || tw % k.stride[2] != 0 || tw / k.stride[2] >= k.in[2]) continue;
                    const int64_t in_pos = ((td / k.stride[0]) * k.in[1] + th / k.stride[1]) * k.in[2] + tw / k.stride[2];
                    const int64_t tap = (kd * k.kernel[1] + kh) * k.kernel[2] + kw;
                    for (int64_t c = 0; c < group_in_; ++c) {
                      const int64_t ci = g * group_in_ + c;
                      acc += static_cast<Acc>(x[(n * in_channels_ + ci) * in_size_ + in_pos]) *
                             static_cast<Acc>(w[(ci * group_out_ + mg) * kernel_size_ + tap]);
                    }
                  }
                }
              }
              y_plane[(od * k.out[1] + oh) * k.out[2] + ow] = static_cast<T>(acc);
            }
      }
  }

  WindowAttributes attrs_;
  int64_t group_;
  std::vector<int64_t> output_padding_, output_shape_;
  Window3 win_{};
  DType dtype_ = DType::kFloat32;
  bool has_bias_ = false;
  int64_t batch_ = 0, in_channels_ = 0, out_channels_ = 0, group_in_ = 0, group_out_ = 0;
  int64_t in_size_ = 0, out_size_ = 0, kernel_size_ = 0, chunk_rows_ = 1;
  size_t col_bytes_ = 0;
  // Per kernel column kw: input columns [lo, hi) that land inside the output.
  std::vector<int64_t> iw_lo_, iw_hi_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("ConvTranspose", ConvTranspose);
}  // namespace edgerun

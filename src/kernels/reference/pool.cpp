// Pooling: MaxPool (with optional Indices), AveragePool, LpPool and their Global variants.
// All share one loop nest over up to three spatial dimensions; the window is clipped to the input once per
// output position so the inner loops carry no bounds checks.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/common.h"
#include "kernels/kernel.h"
#include "kernels/reference/window_geometry.h"

namespace edgerun {
namespace {

enum class PoolKind { kMax, kAverage, kLp };

template <typename T> struct Accumulator { using type = float; };
template <> struct Accumulator<double> { using type = double; };
template <> struct Accumulator<int8_t> { using type = int32_t; };
template <> struct Accumulator<uint8_t> { using type = int32_t; };

// Kernel taps k in [lo, hi) whose position start + k * dilation lies in [0, size).
inline void clip_taps(int64_t start, int64_t dilation, int64_t taps, int64_t size, int64_t* lo, int64_t* hi) {
  *lo = start >= 0 ? 0 : (-start + dilation - 1) / dilation;
  const int64_t last = size - 1 - start;  // largest k * dilation allowed
  *hi = last < 0 ? 0 : std::min(taps, last / dilation + 1);
  if (*hi < *lo) *hi = *lo;
}

class Pool {
 public:
  Pool(const Node& node, int64_t opset, PoolKind kind, bool global)
      : kind_(kind), global_(global), attrs_(WindowAttributes::from_node(node)),
        count_include_pad_(node.attr_int("count_include_pad", 0) != 0),
        storage_order_(node.attr_int("storage_order", 0)), p_(node.attr_int("p", 2)) {
    if (storage_order_ != 0 && storage_order_ != 1)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": storage_order must be 0 or 1");
    if (kind_ == PoolKind::kLp && p_ <= 0) throw Error(ErrorCode::kInvalidModel, node.describe() + ": p must be positive");
  }

  void prepare(PrepareContext& ctx) {
    const DType dt = ctx.input_dtype(0);
    const bool is_float = dt == DType::kFloat32 || dt == DType::kFloat64 || dt == DType::kFloat16 || dt == DType::kBFloat16;
    const bool int8 = dt == DType::kInt8 || dt == DType::kUInt8;
    if (!is_float && !(kind_ == PoolKind::kMax && !global_ && int8))
      ctx.fail(std::string("unsupported input dtype ") + dtype_name(dt));
    const Shape& x = ctx.input_shape(0);
    if (x.size() < 3) ctx.fail("X must have rank >= 3 (N, C, spatial...), got shape " + shape_str(x));
    const size_t rank = x.size() - 2;
    if (rank > 3) ctx.unsupported("pooling over more than 3 spatial dimensions");
    const std::vector<int64_t> in(x.begin() + 2, x.end());
    if (global_) {
      WindowAttributes whole;
      geo_ = resolve_window(ctx, whole, in, in);
    } else {
      if (attrs_.kernel_shape.empty()) ctx.fail("kernel_shape attribute is required");
      if (attrs_.kernel_shape.size() != rank)
        ctx.fail("kernel_shape has " + std::to_string(attrs_.kernel_shape.size()) + " values, expected " + std::to_string(rank));
      geo_ = resolve_window(ctx, attrs_, in, attrs_.kernel_shape);
    }
    win_ = to_window3(geo_);
    // Where the padded input ends, for count_include_pad divisors.
    for (int i = 0; i < 3; ++i) padded_end_[i] = win_.in[i];
    for (size_t i = 0; i < rank; ++i) padded_end_[3 - rank + i] = geo_.in[i] + geo_.pad_end[i];
    planes_ = x[0] * x[1];
    Shape y = {x[0], x[1]};
    y.insert(y.end(), geo_.out.begin(), geo_.out.end());
    ctx.set_output(0, dt, y);
    with_indices_ = kind_ == PoolKind::kMax && ctx.num_outputs() > 1 && ctx.has_output(1);
    if (with_indices_) ctx.set_output(1, DType::kInt64, y);
    dtype_ = dt;
  }

  void run(RunContext& ctx) {
    dispatch_dtype<kFloats | kInts>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (is_float_v<T> || std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) run_typed<T>(ctx);
    });
  }

 private:
  template <typename T>
  void run_typed(RunContext& ctx) {
    using Acc = typename Accumulator<T>::type;
    const T* x = ctx.input(0).data<T>();
    T* y = ctx.output(0).data<T>();
    int64_t* indices = with_indices_ && ctx.has_output(1) ? ctx.output(1).data<int64_t>() : nullptr;
    const Window3& k = win_;
    const int64_t in_size = k.in[0] * k.in[1] * k.in[2];
    const int64_t out_size = k.out[0] * k.out[1] * k.out[2];
    for (int64_t plane = 0; plane < planes_; ++plane) {
      const T* xp = x + plane * in_size;
      T* yp = y + plane * out_size;
      int64_t* ip = indices ? indices + plane * out_size : nullptr;
      int64_t o = 0;
      for (int64_t od = 0; od < k.out[0]; ++od) {
        const int64_t sd = od * k.stride[0] - k.pad[0];
        int64_t d_lo, d_hi;
        clip_taps(sd, k.dilation[0], k.kernel[0], k.in[0], &d_lo, &d_hi);
        for (int64_t oh = 0; oh < k.out[1]; ++oh) {
          const int64_t sh = oh * k.stride[1] - k.pad[1];
          int64_t h_lo, h_hi;
          clip_taps(sh, k.dilation[1], k.kernel[1], k.in[1], &h_lo, &h_hi);
          for (int64_t ow = 0; ow < k.out[2]; ++ow, ++o) {
            const int64_t sw = ow * k.stride[2] - k.pad[2];
            int64_t w_lo, w_hi;
            clip_taps(sw, k.dilation[2], k.kernel[2], k.in[2], &w_lo, &w_hi);
            if (kind_ == PoolKind::kMax) {
              Acc best = std::numeric_limits<Acc>::lowest();
              int64_t best_pos = -1;
              for (int64_t a = d_lo; a < d_hi; ++a) {
                const int64_t id = sd + a * k.dilation[0];
                for (int64_t b = h_lo; b < h_hi; ++b) {
                  const int64_t ih = sh + b * k.dilation[1];
                  const T* row = xp + (id * k.in[1] + ih) * k.in[2];
                  for (int64_t c = w_lo; c < w_hi; ++c) {
                    const int64_t iw = sw + c * k.dilation[2];
                    const Acc v = static_cast<Acc>(row[iw]);
                    if (v > best || best_pos < 0) {
                      best = v;
                      best_pos = storage_order_ == 0 ? (id * k.in[1] + ih) * k.in[2] + iw
                                                     : id + k.in[0] * (ih + k.in[1] * iw);
                    }
                  }
                }
              }
              yp[o] = static_cast<T>(best);
              if (ip) ip[o] = best_pos < 0 ? -1 : plane * in_size + best_pos;
            } else {
              Acc sum = 0;
              for (int64_t a = d_lo; a < d_hi; ++a) {
                const int64_t id = sd + a * k.dilation[0];
                for (int64_t b = h_lo; b < h_hi; ++b) {
                  const T* row = xp + (id * k.in[1] + sh + b * k.dilation[1]) * k.in[2];
                  if (kind_ == PoolKind::kAverage) {
                    for (int64_t c = w_lo; c < w_hi; ++c) sum += static_cast<Acc>(row[sw + c * k.dilation[2]]);
                  } else {
                    for (int64_t c = w_lo; c < w_hi; ++c) {
                      const Acc v = std::fabs(static_cast<Acc>(row[sw + c * k.dilation[2]]));
                      sum += p_ == 1 ? v : p_ == 2 ? v * v : static_cast<Acc>(std::pow(v, static_cast<Acc>(p_)));
                    }
                  }
                }
              }
              if (kind_ == PoolKind::kAverage) {
                int64_t count;
                if (count_include_pad_) {
                  count = padded_taps(sd, 0) * padded_taps(sh, 1) * padded_taps(sw, 2);
                } else {
                  count = (d_hi - d_lo) * (h_hi - h_lo) * (w_hi - w_lo);
                }
                yp[o] = static_cast<T>(count > 0 ? sum / static_cast<Acc>(count) : Acc(0));
              } else {
                yp[o] = static_cast<T>(p_ == 1 ? sum : p_ == 2 ? std::sqrt(sum) : std::pow(sum, Acc(1) / static_cast<Acc>(p_)));
              }
            }
          }
        }
      }
    }
  }

  // Taps of dimension i whose position lies inside the padded input [-pad_begin, in + pad_end).
  int64_t padded_taps(int64_t start, int i) const {
    int64_t lo, hi;
    clip_taps(start + win_.pad[i], win_.dilation[i], win_.kernel[i], padded_end_[i] + win_.pad[i], &lo, &hi);
    return hi - lo;
  }

  PoolKind kind_;
  bool global_;
  WindowAttributes attrs_;
  bool count_include_pad_;
  int64_t storage_order_;
  int64_t p_;
  WindowGeometry geo_;
  Window3 win_{};
  int64_t padded_end_[3] = {1, 1, 1};
  int64_t planes_ = 0;
  bool with_indices_ = false;
  DType dtype_ = DType::kFloat32;
};

template <PoolKind Kind, bool Global>
class PoolOp final : public Kernel {
 public:
  PoolOp(const Node& node, int64_t opset) : pool_(node, opset, Kind, Global) {}
  void prepare(PrepareContext& ctx) override { pool_.prepare(ctx); }
  void run(RunContext& ctx) override { pool_.run(ctx); }

 private:
  Pool pool_;
};

using MaxPool = PoolOp<PoolKind::kMax, false>;
using AveragePool = PoolOp<PoolKind::kAverage, false>;
using LpPool = PoolOp<PoolKind::kLp, false>;
using GlobalMaxPool = PoolOp<PoolKind::kMax, true>;
using GlobalAveragePool = PoolOp<PoolKind::kAverage, true>;
using GlobalLpPool = PoolOp<PoolKind::kLp, true>;

}  // namespace
EDGERUN_REGISTER_KERNEL("MaxPool", MaxPool);
EDGERUN_REGISTER_KERNEL("AveragePool", AveragePool);
EDGERUN_REGISTER_KERNEL("LpPool", LpPool);
EDGERUN_REGISTER_KERNEL("GlobalMaxPool", GlobalMaxPool);
EDGERUN_REGISTER_KERNEL("GlobalAveragePool", GlobalAveragePool);
EDGERUN_REGISTER_KERNEL("GlobalLpPool", GlobalLpPool);
}  // namespace edgerun

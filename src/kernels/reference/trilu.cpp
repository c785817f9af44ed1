// Trilu: keeps the upper (j - i >= k) or lower (j - i <= k) triangle of the last two dims and
// zeroes the rest.
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Trilu final : public Kernel {
 public:
  Trilu(const Node& node, int64_t opset) : upper_(node.attr_int("upper", 1) != 0) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    if (in.size() < 2) ctx.fail("input must have rank >= 2, got shape " + shape_str(in));
    if (ctx.has_input(1)) {
      if (ctx.input_dtype(1) != DType::kInt64) ctx.fail(std::string("k must be int64, got ") + dtype_name(ctx.input_dtype(1)));
      if (shape_numel(ctx.input_shape(1)) != 1 || ctx.input_shape(1).size() > 1)
        ctx.fail("k must be a scalar, got shape " + shape_str(ctx.input_shape(1)));
    }
    rows_ = in[in.size() - 2];
    cols_ = in[in.size() - 1];
    ctx.set_output(0, ctx.input_dtype(0), in);
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    const int64_t k = ctx.has_input(1) ? *ctx.input(1).data<int64_t>() : 0;
    const int64_t matrix = rows_ * cols_;
    const int64_t batches = matrix ? in.numel() / matrix : 0;
    dispatch_storage(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = in.data<T>();
      T* dst = out.data<T>();
      for (int64_t b = 0; b < batches; ++b)
        for (int64_t i = 0; i < rows_; ++i) {
          const int64_t row = b * matrix + i * cols_;
          // Columns [0, split) and [split, cols) fall on opposite sides of the diagonal.
          const __int128 diagonal = static_cast<__int128>(i) + k + (upper_ ? 0 : 1);
          const int64_t split = static_cast<int64_t>(std::clamp<__int128>(diagonal, 0, cols_));
          for (int64_t j = 0; j < cols_; ++j) dst[row + j] = (j < split) != upper_ ? src[row + j] : T{};
        }
    });
  }

 private:
  bool upper_;
  int64_t rows_ = 0, cols_ = 0;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Trilu", Trilu);
}  // namespace edgerun

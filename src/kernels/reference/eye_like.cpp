// EyeLike: a 2-D tensor shaped like the input with ones on diagonal k and zeros elsewhere, of type
// `dtype` (default: the input's type).
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class EyeLike final : public Kernel {
 public:
  EyeLike(const Node& node, int64_t opset)
      : has_dtype_(node.has_attr("dtype")), dtype_(static_cast<DType>(node.attr_int("dtype", 0))), k_(node.attr_int("k", 0)) {
    if (has_dtype_ && (dtype_ == DType::kString || !dispatch_dtype<kAllNoString>(dtype_, [](auto) {})))
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": dtype " + std::to_string(static_cast<int>(dtype_)) +
                                                " is not a numeric or bool type");
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    if (in.size() != 2) ctx.fail("input must be 2-D, got shape " + shape_str(in));
    const DType out = has_dtype_ ? dtype_ : ctx.input_dtype(0);
    if (!dispatch_dtype<kAllNoString>(out, [](auto) {})) ctx.fail(std::string("unsupported dtype ") + dtype_name(out));
    ctx.set_output(0, out, in);
  }

  void run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    const int64_t rows = out.dim(0), cols = out.dim(1);
    dispatch_dtype<kAllNoString>(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* dst = out.data<T>();
      std::fill(dst, dst + out.numel(), T(0.0f));
      if (k_ >= cols || k_ <= -rows) return;  // the diagonal misses the matrix
      for (int64_t i = std::max<int64_t>(0, -k_); i < rows && i + k_ < cols; ++i) dst[i * cols + i + k_] = T(1.0f);
    });
  }

 private:
  bool has_dtype_;
  DType dtype_;
  int64_t k_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("EyeLike", EyeLike);
}  // namespace edgerun

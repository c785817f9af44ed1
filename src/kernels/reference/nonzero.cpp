// NonZero: the coordinates of the non-zero elements, as an int64 [rank, count] tensor in row-major
// order. A scalar behaves as a 1-element vector.
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class NonZero final : public Kernel {
 public:
  NonZero(const Node& node, int64_t opset) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    shape_ = in.empty() ? Shape{1} : in;
    counter_.assign(shape_.size(), 0);
    if (!dispatch_dtype<kAll>(ctx.input_dtype(0), [](auto) {}))
      ctx.fail(std::string("unsupported dtype ") + dtype_name(ctx.input_dtype(0)));
    ctx.set_output_dynamic(0, DType::kInt64);
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    const int64_t n = in.numel();
    dispatch_dtype<kAll>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = in.data<T>();
      int64_t count = 0;
      for (int64_t i = 0; i < n; ++i) count += element_is_nonzero(src[i]) ? 1 : 0;
      const int64_t rank = static_cast<int64_t>(shape_.size());
      int64_t* out = ctx.allocate_output(0, DType::kInt64, {rank, count}).data<int64_t>();
      std::fill(counter_.begin(), counter_.end(), 0);
      int64_t j = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (element_is_nonzero(src[i])) {
          for (int64_t d = 0; d < rank; ++d) out[d * count + j] = counter_[d];
          ++j;
        }
        for (int64_t d = rank - 1; d >= 0; --d) {
          if (++counter_[d] < shape_[d]) break;
          counter_[d] = 0;
        }
      }
    });
  }

 private:
  Shape shape_;
  std::vector<int64_t> counter_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("NonZero", NonZero);
}  // namespace edgerun

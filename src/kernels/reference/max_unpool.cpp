// MaxUnpool: scatters X into a zero tensor at the flat positions given by I (as produced by MaxPool's
// Indices). Indices address the tensor the pooling geometry implies ((in - 1) * stride + kernel - pads);
// when output_shape asks for a different size, each element keeps its coordinates in that larger or smaller
// tensor.
#include <cstring>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

class MaxUnpool final : public Kernel {
 public:
  MaxUnpool(const Node& node, int64_t opset)
      : kernel_(node.attr_ints("kernel_shape")), strides_(node.attr_ints("strides")), pads_(node.attr_ints("pads")) {
    if (kernel_.empty()) throw Error(ErrorCode::kInvalidModel, node.describe() + ": kernel_shape attribute is required");
  }

  void prepare(PrepareContext& ctx) override {
    const DType dt = ctx.input_dtype(0);
    if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kFloat16 && dt != DType::kBFloat16)
      ctx.fail(std::string("X must be a float tensor, got ") + dtype_name(dt));
    const Shape& x = ctx.input_shape(0);
    if (x.size() < 3) ctx.fail("X must have rank >= 3 (N, C, spatial...), got shape " + shape_str(x));
    if (ctx.input_dtype(1) != DType::kInt64) ctx.fail(std::string("I must be int64, got ") + dtype_name(ctx.input_dtype(1)));
    if (ctx.input_shape(1) != x) ctx.fail("I has shape " + shape_str(ctx.input_shape(1)) + ", expected the shape of X " + shape_str(x));
    const size_t rank = x.size() - 2;
    if (kernel_.size() != rank) ctx.fail("kernel_shape has " + std::to_string(kernel_.size()) + " values, expected " + std::to_string(rank));
    if (!strides_.empty() && strides_.size() != rank) ctx.fail("strides must have " + std::to_string(rank) + " values");
    if (!pads_.empty() && pads_.size() != 2 * rank) ctx.fail("pads must have " + std::to_string(2 * rank) + " values");
    implied_ = {x[0], x[1]};
    for (size_t i = 0; i < rank; ++i) {
      const int64_t s = strides_.empty() ? 1 : strides_[i];
      const int64_t p = pads_.empty() ? 0 : pads_[i] + pads_[i + rank];
      if (kernel_[i] < 1 || s < 1) ctx.fail("kernel_shape and strides must be positive");
      implied_.push_back((x[2 + i] - 1) * s + kernel_[i] - p);
    }
    Shape y = implied_;
    if (ctx.has_input(2)) {
      const Tensor& shape_value = ctx.require_value(2);
      y = tensor_to_int64s(shape_value);
      if (y.size() != x.size()) ctx.fail("output_shape has " + std::to_string(y.size()) + " values, expected " + std::to_string(x.size()));
      if (y[0] != x[0] || y[1] != x[1]) ctx.fail("output_shape " + shape_str(y) + " must keep N and C of X " + shape_str(x));
    }
    for (size_t i = 0; i < y.size(); ++i)
      if (y[i] < 0 || implied_[i] < 0) ctx.fail("output shape " + shape_str(y) + " has a negative dimension");
    remap_ = y != implied_;
    out_shape_ = y;
    ctx.set_output(0, dt, y);
    dtype_ = dt;
  }

  void run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const int64_t* idx = ctx.input(1).data<int64_t>();
    Tensor& y = ctx.output(0);
    std::memset(y.raw(), 0, y.nbytes());
    const int64_t limit = shape_numel(implied_);
    const size_t rank = implied_.size();
    dispatch_dtype<kFloats>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      const T* px = x.data<T>();
      T* py = y.data<T>();
      for (int64_t i = 0; i < x.numel(); ++i) {
        int64_t target = idx[i];
        if (target < 0 || target >= limit)
          ctx.fail("index " + std::to_string(target) + " at position " + std::to_string(i) + " is outside the " +
                   shape_str(implied_) + " tensor the pooling geometry implies");
        if (remap_) {
          // Re-encode the coordinates of `target` (in implied_) in the requested output shape.
          int64_t rest = target, out_index = 0, out_stride = 1;
          for (size_t d = rank; d-- > 0;) {
            const int64_t coord = rest % implied_[d];
            rest /= implied_[d];
            if (coord >= out_shape_[d])
              ctx.fail("index " + std::to_string(target) + " falls outside output_shape " + shape_str(out_shape_));
            out_index += coord * out_stride;
            out_stride *= out_shape_[d];
          }
          target = out_index;
        }
        py[target] = px[i];
      }
    });
  }

 private:
  std::vector<int64_t> kernel_, strides_, pads_;
  Shape implied_, out_shape_;
  bool remap_ = false;
  DType dtype_ = DType::kFloat32;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("MaxUnpool", MaxUnpool);
}  // namespace edgerun

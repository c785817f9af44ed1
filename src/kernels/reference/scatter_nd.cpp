// ScatterND: a copy of `data` where each row of the last indices dim addresses a slice that is
// replaced by (or combined with, per `reduction`) the matching slice of `updates`.
#include "kernels/reference/data_movement.h"
#include "kernels/reference/scatter_reduction.h"

namespace edgerun {
namespace {

class ScatterND final : public Kernel {
 public:
  ScatterND(const Node& node, int64_t opset) : reduction_(parse_scatter_reduction(node, opset)) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& data = ctx.input_shape(0);
    const Shape& indices = ctx.input_shape(1);
    const Shape& updates = ctx.input_shape(2);
    const DType dtype = ctx.input_dtype(0);
    if (ctx.input_dtype(1) != DType::kInt64)
      ctx.fail(std::string("indices must be int64, got ") + dtype_name(ctx.input_dtype(1)));
    if (ctx.input_dtype(2) != dtype)
      ctx.fail(std::string("updates are ") + dtype_name(ctx.input_dtype(2)) + " but data is " + dtype_name(dtype));
    if (reduction_ != ScatterReduction::kNone && (dtype == DType::kString))
      ctx.fail("a reduction cannot be applied to string tensors");
    const int64_t r = static_cast<int64_t>(data.size()), q = static_cast<int64_t>(indices.size());
    if (r < 1 || q < 1) ctx.fail("data " + shape_str(data) + " and indices " + shape_str(indices) + " must have rank >= 1");
    depth_ = indices[q - 1];
    if (depth_ > r) ctx.fail("the last dim of indices " + shape_str(indices) + " exceeds the rank of data " + shape_str(data));
    Shape expected(indices.begin(), indices.end() - 1);
    expected.insert(expected.end(), data.begin() + depth_, data.end());
    if (updates != expected)
      ctx.fail("updates have shape " + shape_str(updates) + ", expected " + shape_str(expected));
    rows_ = shape_numel(Shape(indices.begin(), indices.end() - 1));
    slice_ = shape_numel(Shape(data.begin() + depth_, data.end()));
    const auto strides = strides_of(data);
    dims_.assign(data.begin(), data.begin() + depth_);
    strides_.assign(strides.begin(), strides.begin() + depth_);
    ctx.set_output(0, dtype, data);
  }

  void run(RunContext& ctx) override {
    const Tensor& data = ctx.input(0);
    const int64_t* idx = ctx.input(1).data<int64_t>();
    const Tensor& updates = ctx.input(2);
    Tensor& out = ctx.output(0);
    const DType dtype = data.dtype();
    copy_elements(dtype, out.raw(), data.raw(), data.numel());
    auto row_offset = [&](int64_t row) {
      int64_t offset = 0;
      for (int64_t k = 0; k < depth_; ++k) {
        int64_t v = idx[row * depth_ + k];
        if (!resolve_index(v, dims_[k]))
          ctx.fail("index " + std::to_string(idx[row * depth_ + k]) + " is out of range for a dim of size " +
                   std::to_string(dims_[k]));
        offset += v * strides_[k];
      }
      return offset;
    };
    if (reduction_ == ScatterReduction::kNone) {
      for (int64_t row = 0; row < rows_; ++row)
        copy_elements(dtype, element_at(out.raw(), dtype, row_offset(row)),
                      element_at(updates.raw(), dtype, row * slice_), slice_);
      return;
    }
    dispatch_dtype<kAllNoString>(dtype, [&](auto tag) {
      using T = decltype(tag);
      T* dst = out.data<T>();
      const T* src = updates.data<T>();
      for (int64_t row = 0; row < rows_; ++row) {
        T* d = dst + row_offset(row);
        const T* s = src + row * slice_;
        for (int64_t i = 0; i < slice_; ++i) scatter_combine(reduction_, d[i], s[i]);
      }
    });
  }

 private:
  ScatterReduction reduction_;
  int64_t depth_ = 0, rows_ = 0, slice_ = 1;
  std::vector<int64_t> dims_, strides_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("ScatterND", ScatterND);
}  // namespace edgerun

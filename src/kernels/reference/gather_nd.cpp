// GatherND: each row of the last indices dim addresses a slice of `data`; the first batch_dims
// dims of data and indices are matched one to one.
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class GatherND final : public Kernel {
 public:
  GatherND(const Node& node, int64_t opset) : batch_dims_(node.attr_int("batch_dims", 0)) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& data = ctx.input_shape(0);
    const Shape& indices = ctx.input_shape(1);
    if (ctx.input_dtype(1) != DType::kInt64)
      ctx.fail(std::string("indices must be int64, got ") + dtype_name(ctx.input_dtype(1)));
    const int64_t r = static_cast<int64_t>(data.size()), q = static_cast<int64_t>(indices.size()), b = batch_dims_;
    if (r < 1 || q < 1) ctx.fail("data " + shape_str(data) + " and indices " + shape_str(indices) + " must have rank >= 1");
    if (b < 0 || b >= std::min(r, q))
      ctx.fail("batch_dims " + std::to_string(b) + " must be less than the ranks of data and indices");
    for (int64_t d = 0; d < b; ++d)
      if (data[d] != indices[d])
        ctx.fail("batch dim " + std::to_string(d) + " differs: data " + shape_str(data) + ", indices " + shape_str(indices));
    depth_ = indices[q - 1];
    if (depth_ < 1 || depth_ > r - b)
      ctx.fail("the last dim of indices " + shape_str(indices) + " must be in [1, " + std::to_string(r - b) + "]");
    Shape out(indices.begin(), indices.end() - 1);
    out.insert(out.end(), data.begin() + b + depth_, data.end());
    batches_ = 1;
    for (int64_t d = 0; d < b; ++d) batches_ *= data[d];
    slice_ = 1;
    for (int64_t d = b + depth_; d < r; ++d) slice_ *= data[d];
    const auto strides = strides_of(data);
    batch_stride_ = b > 0 ? strides[b - 1] : 0;
    dims_.assign(data.begin() + b, data.begin() + b + depth_);
    strides_.assign(strides.begin() + b, strides.begin() + b + depth_);
    const int64_t rows = shape_numel(Shape(indices.begin(), indices.end() - 1));
    rows_per_batch_ = batches_ ? rows / batches_ : 0;
    ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  }

  void run(RunContext& ctx) override {
    const Tensor& data = ctx.input(0);
    const int64_t* idx = ctx.input(1).data<int64_t>();
    Tensor& out = ctx.output(0);
    const DType dtype = data.dtype();
    int64_t row = 0;
    for (int64_t batch = 0; batch < batches_; ++batch)
      for (int64_t j = 0; j < rows_per_batch_; ++j, ++row) {
        int64_t offset = batch * batch_stride_;
        for (int64_t k = 0; k < depth_; ++k) {
          int64_t v = idx[row * depth_ + k];
          if (!resolve_index(v, dims_[k]))
            ctx.fail("index " + std::to_string(idx[row * depth_ + k]) + " is out of range for a dim of size " +
                     std::to_string(dims_[k]));
          offset += v * strides_[k];
        }
        copy_elements(dtype, element_at(out.raw(), dtype, row * slice_), element_at(data.raw(), dtype, offset), slice_);
      }
  }

 private:
  int64_t batch_dims_;
  int64_t depth_ = 0, batches_ = 1, slice_ = 1, batch_stride_ = 0, rows_per_batch_ = 0;
  std::vector<int64_t> dims_, strides_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("GatherND", GatherND);
}  // namespace edgerun

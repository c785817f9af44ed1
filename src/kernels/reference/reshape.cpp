// Reshape: same elements under the shape given by the `shape` input, where 0 copies the input's
// dimension (unless allowzero, opset 14) and one -1 is inferred from the element count.
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Reshape final : public SameOrderKernel {
 public:
  Reshape(const Node& node, int64_t opset) : allow_zero_(node.attr_int("allowzero", 0) != 0) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    const Tensor& shape_t = ctx.require_value(1);
    if (shape_t.dtype() != DType::kInt64) ctx.fail(std::string("shape must be int64, got ") + dtype_name(shape_t.dtype()));
    if (shape_t.rank() != 1) ctx.fail("shape must be 1-D, got shape " + shape_str(shape_t.shape()));
    const int64_t* req = shape_t.data<int64_t>();
    const int64_t n = shape_t.numel();
    Shape out(static_cast<size_t>(n));
    int64_t inferred = -1, known = 1;
    bool has_zero = false;
    for (int64_t i = 0; i < n; ++i) {
      int64_t d = req[i];
      if (d == 0 && !allow_zero_) {
        if (i >= static_cast<int64_t>(in.size()))
          ctx.fail("shape entry " + std::to_string(i) + " is 0 (copy input dim) but the input " + shape_str(in) +
                   " has only " + std::to_string(in.size()) + " dims");
        d = in[i];
      } else if (d == -1) {
        if (inferred >= 0) ctx.fail("shape " + shape_str(Shape(req, req + n)) + " has more than one -1");
        inferred = i;
        continue;
      } else if (d < 0) {
        ctx.fail("shape entry " + std::to_string(d) + " is invalid");
      }
      has_zero |= d == 0;
      out[i] = d;
      if (d != 0 && known > INT64_MAX / d) ctx.fail("shape " + shape_str(Shape(req, req + n)) + " overflows int64");
      known *= d;
    }
    const int64_t total = shape_numel(in);
    if (inferred >= 0) {
      if (allow_zero_ && has_zero) ctx.fail("with allowzero=1, shape cannot contain both 0 and -1");
      if (known == 0) ctx.fail("cannot infer the -1 dimension of " + shape_str(Shape(req, req + n)) + " when other dims are 0");
      if (total % known != 0)
        ctx.fail("cannot reshape " + shape_str(in) + " (" + std::to_string(total) + " elements) to " +
                 shape_str(Shape(req, req + n)));
      out[inferred] = total / known;
    } else if (known != total) {
      ctx.fail("cannot reshape " + shape_str(in) + " (" + std::to_string(total) + " elements) to " + shape_str(out));
    }
    ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  }

 private:
  bool allow_zero_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Reshape", Reshape);
}  // namespace edgerun

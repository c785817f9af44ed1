// Transpose: output dim i is input dim perm[i] (default: reversed dims).
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Transpose final : public Kernel {
 public:
  Transpose(const Node& node, int64_t opset) : has_perm_(node.has_attr("perm")), perm_(node.attr_ints("perm")) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    const size_t rank = in.size();
    std::vector<int64_t> perm = perm_;
    if (!has_perm_) {
      perm.resize(rank);
      for (size_t i = 0; i < rank; ++i) perm[i] = static_cast<int64_t>(rank - 1 - i);
    }
    if (perm.size() != rank)
      ctx.fail("perm has " + std::to_string(perm.size()) + " entries but the input " + shape_str(in) + " has rank " +
               std::to_string(rank));
    std::vector<bool> used(rank, false);
    for (int64_t p : perm) {
      if (p < 0 || p >= static_cast<int64_t>(rank) || used[p])
        ctx.fail("perm " + shape_str(perm) + " is not a permutation of 0.." + std::to_string(rank - 1));
      used[p] = true;
    }
    const auto in_strides = strides_of(in);
    Shape out(rank);
    std::vector<int64_t> strides(rank);
    for (size_t i = 0; i < rank; ++i) {
      out[i] = in[perm[i]];
      strides[i] = in_strides[perm[i]];
    }
    copy_.set(out, strides, 0);
    ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  }

  void run(RunContext& ctx) override { copy_.run(ctx.input(0).dtype(), ctx.input(0).raw(), ctx.output(0).raw()); }

 private:
  bool has_perm_;
  std::vector<int64_t> perm_;
  StridedCopy copy_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Transpose", Transpose);
}  // namespace edgerun

// Shape: the input's dimensions as int64, optionally sliced by start/end (opset 15).
#include <algorithm>

#include "kernels/kernel.h"

namespace edgerun {
namespace {

class ShapeOp final : public Kernel {
 public:
  ShapeOp(const Node& node, int64_t opset) : start_(node.attr_int("start", 0)), end_(node.attr_int("end", INT64_MAX)) {}
  void prepare(PrepareContext& ctx) override {
    const int64_t rank = static_cast<int64_t>(ctx.input_shape(0).size());
    auto clamp = [rank](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank); };
    begin_ = clamp(start_);
    stop_ = clamp(end_);
    ctx.set_output(0, DType::kInt64, {std::max<int64_t>(stop_ - begin_, 0)});
  }
  void run(RunContext& ctx) override {
    const Shape& s = ctx.input(0).shape();
    int64_t* out = ctx.output(0).data<int64_t>();
    for (int64_t i = begin_; i < stop_; ++i) out[i - begin_] = s[i];
  }

 private:
  int64_t start_, end_, begin_ = 0, stop_ = 0;
};

class SizeOp final : public Kernel {
 public:
  SizeOp(const Node&, int64_t) {}
  void prepare(PrepareContext& ctx) override {
    ctx.input_shape(0);  // present
    ctx.set_output(0, DType::kInt64, {});
  }
  void run(RunContext& ctx) override { *ctx.output(0).data<int64_t>() = ctx.input(0).numel(); }
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Shape", ShapeOp);
EDGERUN_REGISTER_KERNEL("Size", SizeOp);
}  // namespace edgerun

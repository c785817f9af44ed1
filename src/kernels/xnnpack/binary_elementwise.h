// Float32 Add and Mul through XNNPACK, with numpy broadcasting (up to 6 dimensions) and an optional
// fused output clamp. One kernel class; add.cpp and multiply.cpp register it for each op.
#pragma once
#include "kernels/common.h"
#include "kernels/xnnpack/xnnpack_common.h"

namespace edgerun {

struct BinaryOpApi {
  xnn_status (*create)(float, float, uint32_t, xnn_operator_t*);
  xnn_status (*setup)(xnn_operator_t, size_t, const size_t*, size_t, const size_t*, const float*, const float*, float*,
                      pthreadpool_t);
  const char* setup_name;
};

class BinaryElementwise : public Kernel {
 public:
  BinaryElementwise(const Node& node, BinaryOpApi api) : api_(api), range_(OutputRange::from_node(node)) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kFloat32 || ctx.input_dtype(1) != DType::kFloat32) ctx.fail("expects float32 inputs");
    a_ = to_sizes(ctx.input_shape(0));
    b_ = to_sizes(ctx.input_shape(1));
    if (a_.size() > XNN_MAX_TENSOR_DIMS || b_.size() > XNN_MAX_TENSOR_DIMS)
      ctx.unsupported("inputs of rank above " + std::to_string(XNN_MAX_TENSOR_DIMS));
    const Shape y = broadcast_shapes(ctx.input_shape(0), ctx.input_shape(1));
    ctx.set_output(0, DType::kFloat32, y);
    empty_ = shape_numel(y) == 0;
    if (op_) return;
    xnn_operator_t op = nullptr;
    check_xnn(api_.create(range_.min, range_.max, 0, &op), ctx.node(), "creating the XNNPACK operator");
    op_.reset(op);
  }

  void run(RunContext& ctx) override {
    if (empty_) return;
    pthreadpool_t threads = pthreads_of(ctx);
    check_xnn(api_.setup(op_.get(), a_.size(), a_.data(), b_.size(), b_.data(), ctx.input(0).data<float>(),
                         ctx.input(1).data<float>(), ctx.output(0).data<float>(), threads),
              ctx.node(), api_.setup_name);
    check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
  }

 private:
  BinaryOpApi api_;
  OutputRange range_;
  XnnOperator op_;
  std::vector<size_t> a_, b_;
  bool empty_ = false;
};

}  // namespace edgerun

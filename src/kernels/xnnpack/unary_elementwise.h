// Float32 unary ops through XNNPACK on contiguous tensors of any shape (one row of numel values).
// clamp.cpp, hardswish.cpp and sigmoid.cpp register it with their create/setup calls.
#pragma once
#include <functional>

#include "kernels/xnnpack/xnnpack_common.h"

namespace edgerun {

class UnaryElementwise : public Kernel {
 public:
  using Create = std::function<xnn_status(xnn_operator_t*)>;  // a 1-channel operator
  using Setup = xnn_status (*)(xnn_operator_t, size_t, const float*, float*, pthreadpool_t);

  UnaryElementwise(Create create, Setup setup) : create_(std::move(create)), setup_(setup) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kFloat32) ctx.fail("expects a float32 input");
    ctx.set_output(0, DType::kFloat32, ctx.input_shape(0));
    numel_ = static_cast<size_t>(shape_numel(ctx.input_shape(0)));
    if (op_) return;
    xnn_operator_t op = nullptr;
    check_xnn(create_(&op), ctx.node(), "creating the XNNPACK operator");
    op_.reset(op);
  }

  void run(RunContext& ctx) override {
    if (numel_ == 0) return;
    pthreadpool_t threads = pthreads_of(ctx);
    check_xnn(setup_(op_.get(), numel_, ctx.input(0).data<float>(), ctx.output(0).data<float>(), threads), ctx.node(),
              "setting up the XNNPACK operator");
    check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
  }

 private:
  Create create_;
  Setup setup_;
  XnnOperator op_;
  size_t numel_ = 0;
};

}  // namespace edgerun

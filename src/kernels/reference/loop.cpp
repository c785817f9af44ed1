// Loop: runs `body` while the trip count and the condition allow. Body inputs are
// (iteration_num, cond, loop-carried...), body outputs (cond, loop-carried..., scan outputs...).
// Node outputs are the final loop-carried values followed by each scan output stacked along a new axis 0.
#include <limits>
#include <memory>

#include "kernels/reference/subgraph_values.h"

namespace edgerun {
namespace {

using namespace subgraph_values;

class Loop final : public Kernel {
 public:
  Loop(const Node& node, int64_t opset) {
    const Graph* body = node.attr_graph("body");
    if (!body) throw Error(ErrorCode::kInvalidModel, node.describe() + ": needs a body graph attribute");
    if (node.inputs.size() < 2)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": needs inputs M and cond (either may be empty)");
    carried_ = static_cast<int64_t>(node.inputs.size()) - 2;
    if (static_cast<int64_t>(body->inputs.size()) != carried_ + 2)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": body takes " + std::to_string(body->inputs.size()) +
                                                " inputs, expected 2 + " + std::to_string(carried_) + " loop-carried");
    scans_ = static_cast<int64_t>(body->outputs.size()) - 1 - carried_;
    if (scans_ < 0)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": body has " + std::to_string(body->outputs.size()) +
                                                " outputs, fewer than 1 + " + std::to_string(carried_) + " loop-carried");
    if (static_cast<int64_t>(node.outputs.size()) > carried_ + scans_)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": has more outputs than the body provides");
    // Bodies may declare the iteration number and condition as scalars or as 1-element vectors.
    Shape s;
    iter_shape_ = declared_shape(body->inputs[0], s) && s.size() == 1 ? Shape{1} : Shape{};
    cond_shape_ = declared_shape(body->inputs[1], s) && s.size() == 1 ? Shape{1} : Shape{};
    runner_ = std::make_unique<SubgraphRunner>(*body);
  }

  void prepare(PrepareContext& ctx) override {
    has_trip_count_ = ctx.has_input(0);
    has_cond_ = ctx.has_input(1);
    if (has_trip_count_) {
      if (ctx.input_dtype(0) != DType::kInt64) ctx.fail(std::string("M must be int64, got ") + dtype_name(ctx.input_dtype(0)));
      if (shape_numel(ctx.input_shape(0)) != 1) ctx.fail("M must hold one element, got shape " + shape_str(ctx.input_shape(0)));
    }
    if (has_cond_) {
      if (ctx.input_dtype(1) != DType::kBool) ctx.fail(std::string("cond must be bool, got ") + dtype_name(ctx.input_dtype(1)));
      if (shape_numel(ctx.input_shape(1)) != 1) ctx.fail("cond must hold one element, got shape " + shape_str(ctx.input_shape(1)));
    }
    if (!has_trip_count_ && !has_cond_) ctx.unsupported("has neither a trip count nor a condition, so it never ends");
    for (int64_t k = 0; k < carried_; ++k)
      if (!ctx.has_input(2 + k)) ctx.fail("loop-carried input " + std::to_string(k) + " is missing");
    const Graph& body = runner_->graph();
    for (size_t i = 0; i < ctx.num_outputs(); ++i) ctx.set_output_dynamic(i, body.outputs[1 + i].dtype);
  }

  void run(RunContext& ctx) override {
    const int64_t max_trips = has_trip_count_ ? ctx.input(0).data<int64_t>()[0] : std::numeric_limits<int64_t>::max();
    bool cond = has_cond_ ? ctx.input(1).data<bool>()[0] : true;

    std::vector<Tensor> body_inputs(2 + carried_);
    for (int64_t k = 0; k < carried_; ++k) body_inputs[2 + k] = ctx.input(2 + k);
    std::vector<std::vector<Tensor>> scan_steps(scans_);

    int64_t trip = 0;
    for (; trip < max_trips && cond; ++trip) {
      // Fresh tensors each trip: a body output may alias a body input and be kept as a scan step.
      body_inputs[0] = Tensor(DType::kInt64, iter_shape_);
      body_inputs[1] = Tensor(DType::kBool, cond_shape_);
      body_inputs[0].data<int64_t>()[0] = trip;
      body_inputs[1].data<bool>()[0] = cond;
      std::vector<Tensor> outs = runner_->run(body_inputs, ctx.outer());
      const Tensor& cond_out = outs[0];
      if (cond_out.dtype() != DType::kBool || cond_out.numel() != 1)
        ctx.fail("body condition output must be one bool, got " + std::string(dtype_name(cond_out.dtype())) + " " +
                 shape_str(cond_out.shape()));
      // Without a cond input the body's condition is computed but not used.
      if (has_cond_) cond = cond_out.data<bool>()[0];
      for (int64_t k = 0; k < carried_; ++k) body_inputs[2 + k] = std::move(outs[1 + k]);
      for (int64_t k = 0; k < scans_; ++k) {
        Tensor& step = outs[1 + carried_ + k];
        if (!scan_steps[k].empty() &&
            (step.shape() != scan_steps[k][0].shape() || step.dtype() != scan_steps[k][0].dtype()))
          ctx.fail("scan output " + std::to_string(k) + " changes from " + shape_str(scan_steps[k][0].shape()) + " to " +
                   shape_str(step.shape()) + " at iteration " + std::to_string(trip));
        scan_steps[k].push_back(std::move(step));
      }
    }

    for (int64_t k = 0; k < carried_; ++k)
      if (static_cast<size_t>(k) < ctx.num_outputs()) copy_to_output(ctx, k, body_inputs[2 + k]);
    const Graph& body = runner_->graph();
    for (int64_t k = 0; k < scans_; ++k) {
      const size_t out_index = static_cast<size_t>(carried_ + k);
      if (out_index >= ctx.num_outputs() || !ctx.has_output(out_index)) continue;
      const auto& steps = scan_steps[k];
      Shape shape{trip};
      DType dtype;
      if (!steps.empty()) {
        dtype = steps[0].dtype();
        shape.insert(shape.end(), steps[0].shape().begin(), steps[0].shape().end());
      } else {
        // No iteration ran: the declared per-iteration shape (when fully known) gives the trailing dims.
        const ValueDesc& d = body.outputs[1 + carried_ + k];
        dtype = d.dtype == DType::kUndefined ? DType::kFloat32 : d.dtype;
        Shape declared;
        if (declared_shape(d, declared)) shape.insert(shape.end(), declared.begin(), declared.end());
      }
      Tensor& out = ctx.allocate_output(out_index, dtype, shape);
      for (size_t t = 0; t < steps.size(); ++t)
        copy_elements(steps[t], 0, out, static_cast<int64_t>(t) * steps[t].numel(), steps[t].numel());
    }
  }

 private:
  std::unique_ptr<SubgraphRunner> runner_;
  int64_t carried_ = 0, scans_ = 0;
  Shape iter_shape_, cond_shape_;
  bool has_trip_count_ = false, has_cond_ = false;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Loop", Loop);
}  // namespace edgerun

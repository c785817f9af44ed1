// Scan: iterates `body` over slices of the scan inputs, threading state variables through.
// Opset 9+: inputs are (states..., scan inputs...), scan axes and directions are per input/output.
// Opset 8: inputs are (sequence_lens?, states..., scan inputs...), every tensor has a leading batch axis,
// time is axis 1 and shorter sequences leave zeros in the scan outputs.
#include <algorithm>
#include <memory>

#include "kernels/reference/subgraph_values.h"

namespace edgerun {
namespace {

using namespace subgraph_values;

class Scan final : public Kernel {
 public:
  Scan(const Node& node, int64_t opset) : batched_(opset < 9) {
    const Graph* body = node.attr_graph("body");
    if (!body) throw Error(ErrorCode::kInvalidModel, node.describe() + ": needs a body graph attribute");
    if (!node.has_attr("num_scan_inputs"))
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": needs the num_scan_inputs attribute");
    scan_inputs_ = node.attr_int("num_scan_inputs", 0);
    const int64_t first = batched_ ? 1 : 0;  // opset 8 starts with sequence_lens
    states_ = static_cast<int64_t>(node.inputs.size()) - first - scan_inputs_;
    if (scan_inputs_ < 1 || states_ < 0)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": num_scan_inputs " + std::to_string(scan_inputs_) +
                                                " does not fit the " + std::to_string(node.inputs.size()) + " inputs");
    if (static_cast<int64_t>(body->inputs.size()) != states_ + scan_inputs_)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": body takes " + std::to_string(body->inputs.size()) +
                                                " inputs, expected " + std::to_string(states_ + scan_inputs_));
    scan_outputs_ = static_cast<int64_t>(body->outputs.size()) - states_;
    if (scan_outputs_ < 0 || static_cast<int64_t>(node.outputs.size()) > states_ + scan_outputs_)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": body outputs do not match the node's outputs");

    auto list = [&](const char* key, int64_t n) {
      std::vector<int64_t> v = node.attr_ints(key);
      if (v.empty()) v.assign(static_cast<size_t>(n), 0);
      if (static_cast<int64_t>(v.size()) != n)
        throw Error(ErrorCode::kInvalidModel, node.describe() + ": " + key + " must have " + std::to_string(n) + " entries");
      return v;
    };
    if (batched_) {
      input_reverse_ = list("directions", scan_inputs_);
      output_reverse_.assign(static_cast<size_t>(scan_outputs_), 0);
      input_axes_.assign(static_cast<size_t>(scan_inputs_), 0);
      output_axes_.assign(static_cast<size_t>(scan_outputs_), 0);
    } else {
      input_reverse_ = list("scan_input_directions", scan_inputs_);
      output_reverse_ = list("scan_output_directions", scan_outputs_);
      input_axes_ = list("scan_input_axes", scan_inputs_);
      output_axes_ = list("scan_output_axes", scan_outputs_);
    }
    for (int64_t d : input_reverse_)
      if (d != 0 && d != 1) throw Error(ErrorCode::kInvalidModel, node.describe() + ": scan directions must be 0 or 1");
    for (int64_t d : output_reverse_)
      if (d != 0 && d != 1) throw Error(ErrorCode::kInvalidModel, node.describe() + ": scan directions must be 0 or 1");
    runner_ = std::make_unique<SubgraphRunner>(*body);
  }

  void prepare(PrepareContext& ctx) override {
    const size_t first = batched_ ? 1 : 0;
    has_seq_lens_ = batched_ && ctx.has_input(0);
    if (has_seq_lens_ && ctx.input_dtype(0) != DType::kInt64)
      ctx.fail(std::string("sequence_lens must be int64, got ") + dtype_name(ctx.input_dtype(0)));
    seq_len_ = -1;
    batch_ = batched_ ? -1 : 1;
    for (int64_t i = 0; i < states_ + scan_inputs_; ++i) {
      const size_t in = first + i;
      if (!ctx.has_input(in)) ctx.fail("input " + std::to_string(in) + " is missing");
      const Shape& s = ctx.input_shape(in);
      if (batched_) {
        if (s.empty()) ctx.fail("input " + std::to_string(in) + " needs a batch axis, got a scalar");
        if (batch_ >= 0 && s[0] != batch_)
          ctx.fail("batch size " + std::to_string(s[0]) + " of input " + std::to_string(in) + " differs from " + std::to_string(batch_));
        batch_ = s[0];
      }
      if (i < states_) continue;
      const int64_t k = i - states_;
      const int64_t rank = static_cast<int64_t>(s.size()) - (batched_ ? 1 : 0);
      int64_t axis = input_axes_[k];
      if (axis < -rank || axis >= rank)
        ctx.fail("scan_input_axes[" + std::to_string(k) + "] = " + std::to_string(axis) + " is out of range for rank " +
                 std::to_string(rank));
      if (axis < 0) axis += rank;
      resolved_input_axes_.resize(static_cast<size_t>(scan_inputs_));
      resolved_input_axes_[k] = axis;
      const int64_t len = s[axis + (batched_ ? 1 : 0)];
      if (seq_len_ >= 0 && len != seq_len_)
        ctx.fail("scan input " + std::to_string(k) + " has " + std::to_string(len) + " steps, another has " + std::to_string(seq_len_));
      seq_len_ = len;
    }
    if (has_seq_lens_ && ctx.input_shape(0) != Shape{batch_})
      ctx.fail("sequence_lens must have shape " + shape_str({batch_}) + ", got " + shape_str(ctx.input_shape(0)));
    const Graph& body = runner_->graph();
    for (size_t i = 0; i < ctx.num_outputs(); ++i) ctx.set_output_dynamic(i, body.outputs[i].dtype);
  }

  void run(RunContext& ctx) override {
    if (!batched_) {
      std::vector<Tensor> inputs;
      for (int64_t i = 0; i < states_ + scan_inputs_; ++i) inputs.push_back(ctx.input(i));
      std::vector<Tensor> results = iterate(ctx, inputs, seq_len_);
      for (size_t i = 0; i < results.size() && i < ctx.num_outputs(); ++i) copy_to_output(ctx, i, results[i]);
      return;
    }
    // Opset 8: run each batch entry on its own, then stack the results along a new batch axis.
    std::vector<std::vector<Tensor>> per_batch;
    for (int64_t b = 0; b < batch_; ++b) {
      const int64_t len = has_seq_lens_ ? ctx.input(0).data<int64_t>()[b] : seq_len_;
      if (len < 0 || len > seq_len_)
        ctx.fail("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(len) + " is outside [0, " +
                 std::to_string(seq_len_) + "]");
      std::vector<Tensor> inputs;
      for (int64_t i = 0; i < states_ + scan_inputs_; ++i) inputs.push_back(slice_along(ctx.input(1 + i), 0, b));
      per_batch.push_back(iterate(ctx, inputs, len));
    }
    for (size_t i = 0; i < ctx.num_outputs(); ++i) {
      if (!ctx.has_output(i)) continue;
      const bool is_scan = static_cast<int64_t>(i) >= states_;
      Shape shape;
      DType dtype = runner_->graph().outputs[i].dtype;
      for (const auto& r : per_batch) {
        Shape s = r[i].shape();
        dtype = r[i].dtype();
        if (is_scan && !s.empty()) s[0] = seq_len_;  // shorter sequences are zero-padded to the longest
        if (!shape.empty() && s != shape) ctx.fail("output " + std::to_string(i) + " differs in shape between batch entries");
        shape = s;
      }
      if (per_batch.empty()) continue;
      Shape out_shape{batch_};
      out_shape.insert(out_shape.end(), shape.begin(), shape.end());
      Tensor& out = ctx.allocate_output(i, dtype, out_shape);
      const int64_t stride = shape_numel(shape);
      for (int64_t b = 0; b < batch_; ++b) copy_elements(per_batch[b][i], 0, out, b * stride, per_batch[b][i].numel());
    }
  }

 private:
  // Runs the body `steps` times over inputs (states..., scan inputs...) without a batch axis; returns
  // (final states..., stacked scan outputs...). Scan outputs are sized for seq_len_ steps.
  std::vector<Tensor> iterate(RunContext& ctx, const std::vector<Tensor>& inputs, int64_t steps) {
    std::vector<Tensor> body_inputs(inputs.begin(), inputs.begin() + states_);
    body_inputs.resize(static_cast<size_t>(states_ + scan_inputs_));
    std::vector<Tensor> results(static_cast<size_t>(states_ + scan_outputs_));
    std::vector<int64_t> output_axes(static_cast<size_t>(scan_outputs_), 0);
    for (int64_t t = 0; t < steps; ++t) {
      for (int64_t k = 0; k < scan_inputs_; ++k) {
        const int64_t at = input_reverse_[k] ? steps - 1 - t : t;
        body_inputs[states_ + k] = slice_along(inputs[states_ + k], resolved_input_axes_[k], at);
      }
      std::vector<Tensor> outs = runner_->run(body_inputs, ctx.outer());
      for (int64_t s = 0; s < states_; ++s) body_inputs[s] = std::move(outs[s]);
      for (int64_t k = 0; k < scan_outputs_; ++k) {
        const Tensor& step = outs[states_ + k];
        Tensor& stacked = results[states_ + k];
        const int64_t rank = static_cast<int64_t>(step.rank()) + 1;
        if (t == 0) {
          int64_t axis = output_axes_[k];
          if (axis < -rank || axis >= rank)
            ctx.fail("scan_output_axes[" + std::to_string(k) + "] = " + std::to_string(axis) + " is out of range for rank " +
                     std::to_string(rank));
          output_axes[k] = axis < 0 ? axis + rank : axis;
          Shape shape = step.shape();
          shape.insert(shape.begin() + output_axes[k], batched_ ? seq_len_ : steps);
          stacked = Tensor(step.dtype(), shape);
        } else {
          Shape expected = stacked.shape();
          expected.erase(expected.begin() + output_axes[k]);
          if (step.shape() != expected || step.dtype() != stacked.dtype())
            ctx.fail("scan output " + std::to_string(k) + " changes from " + shape_str(expected) + " to " +
                     shape_str(step.shape()) + " at iteration " + std::to_string(t));
        }
        place_along(stacked, output_axes[k], output_reverse_[k] ? steps - 1 - t : t, step);
      }
    }
    for (int64_t s = 0; s < states_; ++s) results[s] = body_inputs[s];
    for (int64_t k = 0; k < scan_outputs_; ++k) {
      if (!results[states_ + k].empty()) continue;
      // No step ran: the declared per-step shape (when fully known) gives the remaining dims.
      const ValueDesc& d = runner_->graph().outputs[states_ + k];
      Shape shape;
      if (!declared_shape(d, shape)) shape.clear();
      const int64_t rank = static_cast<int64_t>(shape.size()) + 1;
      const int64_t axis = output_axes_[k] < 0 ? output_axes_[k] + rank : output_axes_[k];
      shape.insert(shape.begin() + std::clamp<int64_t>(axis, 0, rank - 1), batched_ ? seq_len_ : 0);
      results[states_ + k] = Tensor(d.dtype == DType::kUndefined ? DType::kFloat32 : d.dtype, shape);
    }
    return results;
  }

  bool batched_;
  int64_t scan_inputs_ = 0, states_ = 0, scan_outputs_ = 0;
  std::vector<int64_t> input_reverse_, output_reverse_, input_axes_, output_axes_, resolved_input_axes_;
  std::unique_ptr<SubgraphRunner> runner_;
  bool has_seq_lens_ = false;
  int64_t seq_len_ = 0, batch_ = 1;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Scan", Scan);
}  // namespace edgerun

// Split: cuts the input along `axis` into the outputs, by the sizes in `split` (attribute before
// opset 13, input from 13), or evenly (opset 18: by num_outputs, the last part possibly smaller).
#include <algorithm>

#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Split final : public Kernel {
 public:
  Split(const Node& node, int64_t opset)
      : opset_(opset), axis_(node.attr_int("axis", 0)), has_attr_split_(node.has_attr("split")),
        attr_split_(node.attr_ints("split")), num_outputs_(node.attr_int("num_outputs", 0)) {
    if (opset >= 18 && node.has_attr("num_outputs") && num_outputs_ != static_cast<int64_t>(node.outputs.size()))
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": num_outputs is " + std::to_string(num_outputs_) +
                                                " but the node has " + std::to_string(node.outputs.size()) + " outputs");
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    const int64_t rank = static_cast<int64_t>(in.size());
    if (rank == 0) ctx.fail("cannot split a scalar");
    if (axis_ < -rank || axis_ >= rank)
      ctx.fail("axis " + std::to_string(axis_) + " is out of range for an input of rank " + std::to_string(rank));
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    const int64_t parts = static_cast<int64_t>(ctx.num_outputs());
    if (parts == 0) ctx.fail("has no outputs");
    std::vector<int64_t> split;
    bool given = false;
    if (opset_ >= 13 && ctx.has_input(1)) {
      split = read_index_list(ctx, ctx.require_value(1), "split");
      given = !split.empty();  // an empty list means an even split
    } else if (opset_ < 13 && has_attr_split_) {
      split = attr_split_;
      given = true;
    }
    const int64_t dim = in[axis];
    if (given) {
      if (static_cast<int64_t>(split.size()) != parts)
        ctx.fail("split has " + std::to_string(split.size()) + " entries for " + std::to_string(parts) + " outputs");
      int64_t sum = 0;
      for (int64_t s : split) {
        if (s < 0 || s > dim) ctx.fail("split " + shape_str(split) + " has an entry outside [0, " + std::to_string(dim) + "]");
        sum += s;
      }
      if (sum != dim)
        ctx.fail("split " + shape_str(split) + " sums to " + std::to_string(sum) + ", but axis " +
                 std::to_string(axis) + " of " + shape_str(in) + " has size " + std::to_string(dim));
    } else if (opset_ >= 18) {
      const int64_t chunk = (dim + parts - 1) / parts;
      for (int64_t k = 0; k < parts; ++k) split.push_back(std::clamp<int64_t>(dim - k * chunk, 0, chunk));
    } else {
      if (dim % parts != 0)
        ctx.fail("axis " + std::to_string(axis) + " of " + shape_str(in) + " cannot be split evenly into " +
                 std::to_string(parts) + " parts");
      split.assign(static_cast<size_t>(parts), dim / parts);
    }
    outer_ = 1;
    inner_ = 1;
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) outer_ *= in[d];
      if (d > axis) inner_ *= in[d];
    }
    row_ = dim * inner_;
    split_ = split;
    for (int64_t k = 0; k < parts; ++k) {
      Shape s = in;
      s[axis] = split[k];
      ctx.set_output(k, ctx.input_dtype(0), std::move(s));
    }
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    const DType dtype = in.dtype();
    int64_t start = 0;
    for (size_t k = 0; k < split_.size(); ++k) {
      const int64_t block = split_[k] * inner_;
      if (ctx.has_output(k)) {
        void* out = ctx.output(k).raw();
        for (int64_t o = 0; o < outer_; ++o)
          copy_elements(dtype, element_at(out, dtype, o * block), element_at(in.raw(), dtype, o * row_ + start), block);
      }
      start += block;
    }
  }

 private:
  int64_t opset_, axis_;
  bool has_attr_split_;
  std::vector<int64_t> attr_split_;
  int64_t num_outputs_;
  std::vector<int64_t> split_;
  int64_t outer_ = 1, inner_ = 1, row_ = 0;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Split", Split);
}  // namespace edgerun

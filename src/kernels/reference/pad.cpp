// Pad: grows (or, with negative pads, crops) each axis. Modes: constant (a fill value), edge
// (repeat the border element), reflect (mirror without repeating the border), wrap (opset 19).
// Pads come from an attribute before opset 11 and from inputs after, with optional axes (opset 18).
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

enum class PadMode { kConstant, kEdge, kReflect, kWrap };

class Pad final : public Kernel {
 public:
  Pad(const Node& node, int64_t opset)
      : opset_(opset), attr_pads_(node.attr_ints("pads")), attr_value_(node.attr_float("value", 0.0f)) {
    const std::string mode = node.attr_string("mode", "constant");
    if (mode == "constant") mode_ = PadMode::kConstant;
    else if (mode == "edge") mode_ = PadMode::kEdge;
    else if (mode == "reflect") mode_ = PadMode::kReflect;
    else if (mode == "wrap" && opset >= 19) mode_ = PadMode::kWrap;
    else throw Error(ErrorCode::kInvalidModel, node.describe() + ": mode '" + mode + "' is not valid at opset " + std::to_string(opset));
    if (opset < 11 && !node.has_attr("pads"))
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": attribute 'pads' is required");
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    const DType dtype = ctx.input_dtype(0);
    const int64_t rank = static_cast<int64_t>(in.size());
    std::vector<int64_t> pads = attr_pads_;
    std::vector<int64_t> axes;
    fill_ = Tensor(dtype, {});
    if (opset_ >= 11) {
      const Tensor& pads_t = ctx.require_value(1);
      if (pads_t.dtype() != DType::kInt64) ctx.fail(std::string("pads must be int64, got ") + dtype_name(pads_t.dtype()));
      pads = read_index_list(ctx, pads_t, "pads");
      if (ctx.has_input(2) && mode_ == PadMode::kConstant) {
        const Tensor& value = ctx.require_value(2);
        if (value.dtype() != dtype)
          ctx.fail(std::string("constant_value is ") + dtype_name(value.dtype()) + " but data is " + dtype_name(dtype));
        if (value.numel() > 1) ctx.fail("constant_value must hold one element, got shape " + shape_str(value.shape()));
        if (value.numel() == 1) copy_elements(dtype, fill_.raw(), value.raw(), 1);
      }
      if (ctx.has_input(3)) axes = normalize_axes(ctx, read_index_list(ctx, ctx.require_value(3), "axes"), rank, "axis");
    } else {
      const double v = attr_value_;
      if (!dispatch_dtype<kNumeric>(dtype, [&](auto tag) {
            using T = decltype(tag);
            *fill_.data<T>() = static_cast<T>(v);
          }))
        ctx.fail(std::string("data must be numeric, got ") + dtype_name(dtype));
    }
    if (axes.empty() && !(opset_ >= 11 && ctx.has_input(3))) {
      for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    }
    const int64_t n = static_cast<int64_t>(axes.size());
    if (static_cast<int64_t>(pads.size()) != 2 * n)
      ctx.fail("pads has " + std::to_string(pads.size()) + " entries, expected " + std::to_string(2 * n) +
               " for input " + shape_str(in));

    Shape out = in;
    std::vector<int64_t> begin(static_cast<size_t>(rank), 0);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t a = axes[i];
      begin[a] = pads[i];
      out[a] = checked_add(ctx, checked_add(ctx, in[a], pads[i], "the padded size"), pads[i + n], "the padded size");
      if (out[a] < 0) ctx.fail("pads " + shape_str(pads) + " remove more than axis " + std::to_string(a) + " of " + shape_str(in));
      if (mode_ != PadMode::kConstant && in[a] == 0 && out[a] > 0)
        ctx.fail("cannot pad an empty axis " + std::to_string(a) + " in a non-constant mode");
    }
    shape_numel(out);
    // Per axis: the input coordinate each output coordinate reads, or -1 for the fill value.
    const auto strides = strides_of(in);
    source_.assign(static_cast<size_t>(rank), {});
    for (int64_t a = 0; a < rank; ++a) {
      auto& map = source_[a];
      map.resize(static_cast<size_t>(out[a]));
      const int64_t dim = in[a];
      for (int64_t o = 0; o < out[a]; ++o) {
        int64_t i = o - begin[a];
        if (i < 0 || i >= dim) {
          switch (mode_) {
            case PadMode::kConstant: i = -1; break;
            case PadMode::kEdge: i = i < 0 ? 0 : dim - 1; break;
            case PadMode::kWrap: i = ((i % dim) + dim) % dim; break;
            case PadMode::kReflect:
              if (dim == 1) {
                i = 0;
              } else {
                const int64_t period = 2 * (dim - 1);
                i = ((i % period) + period) % period;
                if (i >= dim) i = period - i;
              }
              break;
          }
        }
        map[o] = i < 0 ? -1 : i * strides[a];
      }
    }
    ctx.set_output(0, dtype, std::move(out));
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    if (out.numel() == 0) return;
    dispatch_storage(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* dst = out.data<T>();
      fill<T>(0, 0, in.data<T>(), *fill_.data<T>(), dst);
    });
  }

 private:
  // Writes the output block of dims [d, rank); `offset` is the input offset of the block, -1 if
  // the block lies in the fill region.
  template <typename T>
  void fill(size_t d, int64_t offset, const T* src, const T& value, T*& dst) const {
    if (d == source_.size()) {
      *dst++ = offset < 0 ? value : src[offset];
      return;
    }
    const auto& map = source_[d];
    const int64_t n = static_cast<int64_t>(map.size());
    if (d + 1 == source_.size()) {
      for (int64_t o = 0; o < n; ++o) *dst++ = offset < 0 || map[o] < 0 ? value : src[offset + map[o]];
      return;
    }
    for (int64_t o = 0; o < n; ++o) fill<T>(d + 1, offset < 0 || map[o] < 0 ? -1 : offset + map[o], src, value, dst);
  }

  int64_t opset_;
  PadMode mode_ = PadMode::kConstant;
  std::vector<int64_t> attr_pads_;
  float attr_value_;
  Tensor fill_;
  std::vector<std::vector<int64_t>> source_;  // per axis: input offset for each output coordinate, -1 = fill
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Pad", Pad);
}  // namespace edgerun

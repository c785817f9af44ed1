// GRU with gates z, r, h (in that order in W, R and B); the time loop lives in recurrent.h.
#include "kernels/reference/recurrent.h"

namespace edgerun {
namespace {

using namespace recurrent;

class GruCell {
 public:
  static constexpr int kGates = 3;
  static constexpr bool kHasCellState = false;
  explicit GruCell(const Node& node) : linear_before_reset_(node.attr_int("linear_before_reset", 0) != 0) {}
  static std::vector<std::string> default_activations() { return {"Sigmoid", "Tanh"}; }

  template <typename C>
  void step(const CellParams<C>& p, const C* xw, const C* h, const C*, C* h_out, C*) const {
    const int64_t H = p.hidden;
    C* z = p.work;
    C* r = p.work + H;
    C* rh = p.work + 2 * H;  // r (.) h, the input of the reset-gated recurrence
    auto dot = [H](const C* a, const C* b) {
      C s = 0;
      for (int64_t k = 0; k < H; ++k) s += a[k] * b[k];
      return s;
    };
    for (int64_t j = 0; j < H; ++j) {
      z[j] = p.act[0](clip_value(xw[j] + p.rb[j] + dot(h, p.r + j * H), p.clip));
      r[j] = p.act[0](clip_value(xw[H + j] + p.rb[H + j] + dot(h, p.r + (H + j) * H), p.clip));
    }
    if (!linear_before_reset_)
      for (int64_t k = 0; k < H; ++k) rh[k] = r[k] * h[k];
    for (int64_t j = 0; j < H; ++j) {
      const C* rr = p.r + (2 * H + j) * H;
      const C rb = p.rb[2 * H + j];
      const C recur = linear_before_reset_ ? r[j] * (dot(h, rr) + rb) : dot(rh, rr) + rb;
      const C candidate = p.act[1](clip_value(xw[2 * H + j] + recur, p.clip));
      h_out[j] = (C(1) - z[j]) * candidate + z[j] * h[j];
    }
  }

 private:
  bool linear_before_reset_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("GRU", RecurrentKernel<GruCell>);
}  // namespace edgerun

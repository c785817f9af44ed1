// RNN: H_t = f(X_t W^T + H_{t-1} R^T + Wb + Rb); the time loop lives in recurrent.h.
#include "kernels/reference/recurrent.h"

namespace edgerun {
namespace {

using namespace recurrent;

struct RnnCell {
  static constexpr int kGates = 1;
  static constexpr bool kHasCellState = false;
  explicit RnnCell(const Node&) {}
  static std::vector<std::string> default_activations() { return {"Tanh"}; }

  template <typename C>
  void step(const CellParams<C>& p, const C* xw, const C* h, const C*, C* h_out, C*) const {
    const int64_t H = p.hidden;
    for (int64_t j = 0; j < H; ++j) {
      C v = xw[j] + p.rb[j];
      const C* rr = p.r + j * H;
      for (int64_t k = 0; k < H; ++k) v += h[k] * rr[k];
      h_out[j] = p.act[0](clip_value(v, p.clip));
    }
  }
};

}  // namespace
EDGERUN_REGISTER_KERNEL("RNN", RecurrentKernel<RnnCell>);
}  // namespace edgerun

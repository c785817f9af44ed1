// LSTM with gates i, o, f, c (in that order in W, R and B) and peepholes P = [Pi, Po, Pf];
// the time loop lives in recurrent.h.
#include "kernels/reference/recurrent.h"

namespace edgerun {
namespace {

using namespace recurrent;

class LstmCell {
 public:
  static constexpr int kGates = 4;
  static constexpr bool kHasCellState = true;
  explicit LstmCell(const Node& node) : input_forget_(node.attr_int("input_forget", 0) != 0) {}
  static std::vector<std::string> default_activations() { return {"Sigmoid", "Tanh", "Tanh"}; }

  template <typename C>
  void step(const CellParams<C>& p, const C* xw, const C* h, const C* c, C* h_out, C* c_out) const {
    const int64_t H = p.hidden;
    const Activation& f = p.act[0];
    const Activation& g = p.act[1];
    const Activation& act_h = p.act[2];
    // pre[gate*H + j] = x W^T + h R^T + Wb + Rb for gate order i, o, f, c.
    C* pre = p.work;
    for (int64_t j = 0; j < 4 * H; ++j) {
      C v = xw[j] + p.rb[j];
      const C* rr = p.r + j * H;
      for (int64_t k = 0; k < H; ++k) v += h[k] * rr[k];
      pre[j] = v;
    }
    const C* pi = p.p;
    const C* po = p.p ? p.p + H : nullptr;
    const C* pf = p.p ? p.p + 2 * H : nullptr;
    for (int64_t j = 0; j < H; ++j) {
      const C i_gate = f(clip_value(pre[j] + (pi ? pi[j] * c[j] : C(0)), p.clip));
      const C f_gate = input_forget_ ? C(1) - i_gate : f(clip_value(pre[2 * H + j] + (pf ? pf[j] * c[j] : C(0)), p.clip));
      const C cand = g(clip_value(pre[3 * H + j], p.clip));
      const C c_new = f_gate * c[j] + i_gate * cand;
      const C o_gate = f(clip_value(pre[H + j] + (po ? po[j] * c_new : C(0)), p.clip));
      c_out[j] = c_new;
      h_out[j] = o_gate * act_h(c_new);
    }
  }

 private:
  bool input_forget_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("LSTM", RecurrentKernel<LstmCell>);
}  // namespace edgerun

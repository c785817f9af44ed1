// Identity: output is a copy of the input.
#include <cstring>

#include "kernels/kernel.h"

namespace edgerun {
namespace {

class Identity final : public Kernel {
 public:
  Identity(const Node&, int64_t) {}
  void prepare(PrepareContext& ctx) override { ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0)); }
  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    if (in.dtype() == DType::kString) {
      for (int64_t i = 0; i < in.numel(); ++i) out.data<std::string>()[i] = in.data<std::string>()[i];
    } else if (in.nbytes()) {
      std::memcpy(out.raw(), in.raw(), in.nbytes());
    }
  }
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Identity", Identity);
}  // namespace edgerun

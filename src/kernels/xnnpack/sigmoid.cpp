// edgerun.Sigmoid: float32 Sigmoid through XNNPACK.
#include "kernels/xnnpack/unary_elementwise.h"

namespace edgerun {
namespace {

class Sigmoid final : public UnaryElementwise {
 public:
  Sigmoid(const Node&, int64_t)
      : UnaryElementwise([](xnn_operator_t* op) { return xnn_create_sigmoid_nc_f32(1, 1, 1, 0, op); },
                         xnn_setup_sigmoid_nc_f32) {}
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "Sigmoid", Sigmoid);

}  // namespace edgerun

// edgerun.Mul: float32 Mul through XNNPACK (see binary_elementwise.h).
#include "kernels/xnnpack/binary_elementwise.h"

namespace edgerun {
namespace {

class Mul final : public BinaryElementwise {
 public:
  Mul(const Node& node, int64_t)
      : BinaryElementwise(node, {xnn_create_multiply_nd_f32, xnn_setup_multiply_nd_f32, "xnn_setup_multiply_nd_f32"}) {}
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "Mul", Mul);

}  // namespace edgerun

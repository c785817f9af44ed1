// edgerun.Clamp: float32 clamp to [activation_min, activation_max] through XNNPACK; the NHWC pass
// writes it for Relu and for Clip with constant bounds.
#include "kernels/xnnpack/unary_elementwise.h"

namespace edgerun {
namespace {

class Clamp final : public UnaryElementwise {
 public:
  Clamp(const Node& node, int64_t)
      : UnaryElementwise(
            [range = OutputRange::from_node(node)](xnn_operator_t* op) {
              return xnn_create_clamp_nc_f32(1, 1, 1, range.min, range.max, 0, op);
            },
            xnn_setup_clamp_nc_f32) {}
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "Clamp", Clamp);

}  // namespace edgerun

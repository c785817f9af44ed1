// edgerun.HardSwish: float32 HardSwish through XNNPACK.
#include "kernels/xnnpack/unary_elementwise.h"

namespace edgerun {
namespace {

class HardSwish final : public UnaryElementwise {
 public:
  HardSwish(const Node&, int64_t)
      : UnaryElementwise([](xnn_operator_t* op) { return xnn_create_hardswish_nc_f32(1, 1, 1, 0, op); },
                         xnn_setup_hardswish_nc_f32) {}
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "HardSwish", HardSwish);

}  // namespace edgerun

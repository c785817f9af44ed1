// edgerun.Add: float32 Add through XNNPACK (see binary_elementwise.h).
#include "kernels/xnnpack/binary_elementwise.h"

namespace edgerun {
namespace {

class Add final : public BinaryElementwise {
 public:
  Add(const Node& node, int64_t)
      : BinaryElementwise(node, {xnn_create_add_nd_f32, xnn_setup_add_nd_f32, "xnn_setup_add_nd_f32"}) {}
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "Add", Add);

}  // namespace edgerun

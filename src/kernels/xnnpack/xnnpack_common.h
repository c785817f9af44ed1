// Shared by the XNNPACK kernels: library initialization, status checks, operator ownership, the
// thread pool handed to XNNPACK and the output range of a fused activation.
#pragma once
#include <xnnpack.h>

#include <cstddef>
#include <limits>
#include <memory>
#include <vector>

#include "kernels/kernel.h"

namespace edgerun {

// Domain of the internal ops the graph passes introduce.
inline constexpr const char* kEdgerunDomain = "edgerun";

// True when XNNPACK initialized on this CPU (checked once per process). The passes that introduce
// XNNPACK kernels run only when this holds; the reference kernels serve otherwise.
bool xnnpack_available();

struct XnnOperatorDeleter {
  void operator()(xnn_operator_t op) const { xnn_delete_operator(op); }
};
using XnnOperator = std::unique_ptr<xnn_operator, XnnOperatorDeleter>;

// Throws Error naming the node and the XNNPACK call when `status` is not success.
void check_xnn(xnn_status status, const Node& node, const char* call);

// The session's pthreadpool, or null to run on the calling thread.
pthreadpool_t pthreads_of(RunContext& ctx);

// Output clamp of a kernel: [-inf, inf] unless an activation was fused into it
// (attributes activation_min / activation_max, written by the FuseActivations pass).
struct OutputRange {
  float min = -std::numeric_limits<float>::infinity();
  float max = std::numeric_limits<float>::infinity();
  static OutputRange from_node(const Node& node);
};

// Dimensions as size_t for XNNPACK shape arguments.
std::vector<size_t> to_sizes(const Shape& shape);

}  // namespace edgerun

#include "kernels/xnnpack/xnnpack_common.h"

#include <string>

#include "runtime/thread_pool.h"

namespace edgerun {

bool xnnpack_available() {
  static const bool available = xnn_initialize(nullptr) == xnn_status_success;
  return available;
}

void check_xnn(xnn_status status, const Node& node, const char* call) {
  if (status == xnn_status_success) return;
  const char* what = "error";
  switch (status) {
    case xnn_status_uninitialized: what = "library not initialized"; break;
    case xnn_status_invalid_parameter: what = "invalid parameter"; break;
    case xnn_status_invalid_state: what = "invalid state"; break;
    case xnn_status_unsupported_parameter: what = "unsupported parameter"; break;
    case xnn_status_unsupported_hardware: what = "unsupported hardware"; break;
    case xnn_status_out_of_memory: what = "out of memory"; break;
    default: break;
  }
  throw Error(status == xnn_status_out_of_memory ? ErrorCode::kRuntime : ErrorCode::kUnsupported,
              node.describe() + ": " + call + " failed: " + what);
}

pthreadpool_t pthreads_of(RunContext& ctx) { return ctx.threads() ? ctx.threads()->pthreads() : nullptr; }

OutputRange OutputRange::from_node(const Node& node) {
  OutputRange r;
  r.min = node.attr_float("activation_min", r.min);
  r.max = node.attr_float("activation_max", r.max);
  return r;
}

std::vector<size_t> to_sizes(const Shape& shape) { return std::vector<size_t>(shape.begin(), shape.end()); }

}  // namespace edgerun

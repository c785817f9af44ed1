#include <cstdlib>
#include <string>

#include "kernels/x86/cpu_features.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {

std::vector<PassRecord> optimize_graph(Graph& g, bool fast_kernels) {
  std::vector<PassRecord> done;
  auto apply = [&](const char* name, int (*pass)(Graph&)) { done.push_back({name, pass(g)}); };
  apply("RemoveIdentities", remove_identities);
  apply("FoldConstantCasts", fold_constant_casts);
  apply("FuseConvBatchNorm", fuse_conv_batchnorm);
  apply("FuseHardSwish", fuse_hard_swish);
  if (fast_kernels) {
    apply("FuseQdq", fuse_qdq);
    apply("FoldConstantDequantize", fold_constant_dequantize);
    apply("FuseChannelShuffle", fuse_channel_shuffle);
    apply("ConvertToNhwc", convert_to_nhwc);
    apply("CancelLayoutConversions", cancel_layout_conversions);
    apply("UseFullyConnected", use_fully_connected);
    apply("FuseSilu", fuse_silu);
    apply("FuseActivations", fuse_activations);
    apply("UseFastSigmoid", use_fast_sigmoid);
    apply("FuseChannelScale", fuse_channel_scale);
    apply("FuseResidualAdd", fuse_residual_add);
    // EDGERUN_FUSE_EXPAND_DEPTHWISE=0 keeps the two convolutions apart (an A/B timing switch).
    const char* fuse = std::getenv("EDGERUN_FUSE_EXPAND_DEPTHWISE");
    if (cpu_has_avx2_fma() && !(fuse && std::string(fuse) == "0"))
      apply("FuseExpandDepthwise", fuse_expand_depthwise);
    // EDGERUN_FUSE_CONV_MAX_POOL=0 keeps the convolution and the pool apart (an A/B timing switch).
    const char* fuse_pool = std::getenv("EDGERUN_FUSE_CONV_MAX_POOL");
    if (cpu_has_avx2_fma() && !(fuse_pool && std::string(fuse_pool) == "0"))
      apply("FuseConvMaxPool", fuse_conv_max_pool);
  }
  apply("RemoveUnusedInitializers", remove_unused_initializers);
  return done;
}

}  // namespace edgerun

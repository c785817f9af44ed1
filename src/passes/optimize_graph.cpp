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
  }
  apply("RemoveUnusedInitializers", remove_unused_initializers);
  return done;
}

}  // namespace edgerun

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
  }
  apply("RemoveUnusedInitializers", remove_unused_initializers);
  return done;
}

}  // namespace edgerun

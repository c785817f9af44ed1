// Graph passes: each rewrites a graph into an equivalent one and returns the number of rewrites.
// Sessions with SessionOptions::optimize apply them to their own copy of the model's graph.
#pragma once
#include <string>
#include <vector>

#include "ir/graph.h"

namespace edgerun {

// Identity, and Dropout in inference mode, disappear: readers read the input instead.
int remove_identities(Graph& g);

// Cast of a float16/bfloat16/float32 initializer to float32 becomes a float32 initializer, so the
// passes below see fp16-stored weights as constants.
int fold_constant_casts(Graph& g);

// BatchNormalization after a Conv with constant weights is folded into the weights and bias.
int fuse_conv_batchnorm(Graph& g);

// 2-D float32 Conv with constant weights becomes edgerun.ConvNhwc. Values stay NHWC between such
// convolutions when the ops in between have NHWC forms (elementwise activations, Add/Mul of two
// NHWC values, 2-D Max/AveragePool, GlobalAveragePool, Concat, other elementwise ops such as
// HardSigmoid or Sub, whose ONNX kernels run unchanged on NHWC data); edgerun.NchwToNhwc and
// edgerun.NhwcToNchw convert at the edges, at most once per value.
int convert_to_nhwc(Graph& g);

// Removes NhwcToNchw -> NchwToNhwc round trips (and the reverse).
int cancel_layout_conversions(Graph& g);

// Gemm and MatMul with a constant 2-D float32 right-hand side become edgerun.FullyConnected.
int use_fully_connected(Graph& g);

// A clamp (Relu, Clip with constant bounds, edgerun.Clamp) after an XNNPACK kernel that can clamp
// its output (ConvNhwc, FullyConnected, Add, Mul) becomes that kernel's fused_activation.
int fuse_activations(Graph& g);

struct PassRecord {
  std::string name;
  int rewrites = 0;
};

// The optimization pipeline; the passes that introduce XNNPACK kernels run only when
// `fast_kernels` holds.
std::vector<PassRecord> optimize_graph(Graph& g, bool fast_kernels);

}  // namespace edgerun

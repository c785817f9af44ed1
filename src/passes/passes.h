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

// Mul(x, HardSigmoid(x)) with HardSigmoid's alpha 1/6 and beta 1/2 (how exporters write HardSwish
// for opsets before 14) becomes one HardSwish: one pass over the data instead of two.
int fuse_hard_swish(Graph& g);

// edgerun.Mul(x, edgerun.Sigmoid(x)) in the NHWC region (SiLU, as exporters write it) becomes one
// edgerun.Silu.
int fuse_silu(Graph& g);

// QDQ int8 patterns (DQ -> Conv/Gemm/MatMul/Add/GlobalAveragePool/MaxPool/Flatten/Reshape -> Q, an
// optional Relu or Clip before the Q) become integer ops that read and write int8 tensors: QLinearConv,
// edgerun.QFullyConnected, edgerun.QLinearAdd, edgerun.QLinearGlobalAveragePool, or the op itself on
// int8 data; a fused clamp becomes an int8 Clip. QLinearMatMul with constant int8 weights becomes
// edgerun.QFullyConnected. Only patterns within the limits of the XNNPACK int8 kernels are rewritten.
int fuse_qdq(Graph& g);

// DequantizeLinear of constant data with constant parameters becomes a float32 initializer (weights of
// the float ops a QDQ model keeps), so that the passes after it see constant float weights.
int fold_constant_dequantize(Graph& g);
// The float32 values of one such DequantizeLinear node (int8, uint8 or int32 data), or false where its
// inputs are not constant or do not fit together.
bool dequantize_constant(const Graph& g, const Node& dq, Tensor* out);

// 2-D float32 Conv with constant weights becomes edgerun.ConvNhwc, and an int8 QLinearConv that XNNPACK
// runs becomes edgerun.QConvNhwc; int8 values stay NHWC through edgerun.QLinearAdd, int8 MaxPool and
// Clip, per-tensor Quantize/DequantizeLinear and edgerun.QLinearGlobalAveragePool (channels_last). Values stay NHWC between such
// convolutions when the ops in between have NHWC forms (elementwise activations, Add/Mul of two
// NHWC values, 2-D Max/AveragePool, GlobalAveragePool, Concat, other elementwise ops such as
// HardSigmoid or Sub, whose ONNX kernels run unchanged on NHWC data); edgerun.NchwToNhwc and
// edgerun.NhwcToNchw convert at the edges, at most once per value.
int convert_to_nhwc(Graph& g);

// Reshape -> Transpose(0,2,1,3,4) -> Reshape with constant shapes (a channel shuffle, as ShuffleNet is
// exported) becomes one edgerun.ChannelShuffle, which convert_to_nhwc keeps in NHWC.
int fuse_channel_shuffle(Graph& g);

// Removes NhwcToNchw -> NchwToNhwc round trips (and the reverse).
int cancel_layout_conversions(Graph& g);

// Gemm and MatMul with a constant 2-D float32 right-hand side become edgerun.FullyConnected.
int use_fully_connected(Graph& g);

// A clamp (Relu, Clip with constant bounds, edgerun.Clamp) after an XNNPACK kernel that can clamp
// its output (ConvNhwc, FullyConnected, Add, Mul) becomes that kernel's fused_activation; an int8 Clip
// after QConvNhwc, QFullyConnected or QLinearAdd becomes their output_min / output_max; an edgerun.Silu
// or edgerun.HardSwish after a ConvNhwc without a clamp becomes its fused_function.
int fuse_activations(Graph& g);

// Sigmoid on a value known to be float32 (made by an edgerun float kernel, then only reshaped,
// transposed, sliced...) outside the NHWC region becomes edgerun.Sigmoid, which is threaded and
// vectorized and takes any shape.
int use_fast_sigmoid(Graph& g);

// edgerun.Mul(x, gate) with gate [N, 1, 1, C] from a GlobalAveragePool (squeeze-excitation), read only
// by a ConvNhwc, becomes that convolution's input 3: a per-channel scale it applies to its weights.
int fuse_channel_scale(Graph& g);

// edgerun.Add(ConvNhwc(x), shortcut), the convolution without an activation of its own and read only
// by the Add, becomes the convolution with input 4 = shortcut and the Add's clamp (a residual block).
int fuse_residual_add(Graph& g);

// A 1x1 edgerun.ConvNhwc (stride 1, no padding) read only by a depthwise edgerun.ConvNhwc becomes one
// edgerun.ExpandDepthwiseNhwc, which computes the expanded rows band by band as the depthwise
// convolution reads them, so the expanded tensor never goes out to memory. Convolutions with a channel
// scale or a residual input stay as they are. Needs AVX2 and FMA (optimize_graph checks).
int fuse_expand_depthwise(Graph& g);

// A strided edgerun.ConvNhwc of one group read only by an edgerun.MaxPoolNhwc (without Indices) becomes
// one edgerun.ConvMaxPoolNhwc, which computes the convolution's rows band by band as the pool reads
// them, so the convolution's output never goes out to memory. Convolutions with a channel scale or a
// residual input stay as they are. Needs AVX2 and FMA (optimize_graph checks).
int fuse_conv_max_pool(Graph& g);

struct PassRecord {
  std::string name;
  int rewrites = 0;
};

// The optimization pipeline; the passes that introduce XNNPACK kernels run only when
// `fast_kernels` holds.
std::vector<PassRecord> optimize_graph(Graph& g, bool fast_kernels);

}  // namespace edgerun

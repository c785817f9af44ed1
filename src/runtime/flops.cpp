#include "runtime/flops.h"

namespace edgerun {
namespace {
int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}
}  // namespace

int64_t estimate_flops(const Node& node, const std::vector<Shape>& in, const std::vector<Shape>& out) {
  // The internal ops of the graph passes count like the ONNX ops they stand for.
  const bool internal = node.domain == "edgerun";
  const std::string op = !internal                            ? node.op_type
                         : node.op_type == "ConvNhwc"         ? "Conv"
                         : node.op_type == "FullyConnected"   ? "MatMul"
                         : node.op_type == "Clamp"            ? "Clip"
                         : node.op_type.size() > 4 && node.op_type.ends_with("Nhwc")
                             ? node.op_type.substr(0, node.op_type.size() - 4)
                             : node.op_type;
  if (out.empty() || in.empty()) return 0;
  const int64_t out_n = numel(out[0]);
  if (internal && node.op_type == "ExpandDepthwiseNhwc") {  // a 1x1 convolution, then a depthwise one
    if (in.size() < 4 || in[0].size() != 4 || in[1].size() != 4 || in[3].size() != 4) return 0;
    return 2 * (numel(in[0]) / in[0][3]) * in[1][0] * in[1][1] + 2 * out_n * in[3][2] * in[3][3];
  }
  if (internal && node.op_type == "ConvMaxPoolNhwc") {  // a convolution, then a max pool of its output
    if (in.size() < 2 || in[0].size() != 4 || in[1].size() != 4) return 0;
    const std::vector<int64_t> strides = node.attr_ints("strides"), pads = node.attr_ints("pads"),
                               dilations = node.attr_ints("dilations");
    const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
    int64_t pixels = in[0][0];
    for (size_t d = 0; d < 2; ++d) {  // the convolution's output size, as ONNX Conv computes it
      const int64_t size = in[0][1 + d], k = in[1][2 + d];
      const int64_t stride = strides.size() == 2 ? strides[d] : 1, dilation = dilations.size() == 2 ? dilations[d] : 1;
      const int64_t pad = pads.size() == 4 ? pads[d] + pads[d + 2] : 0;
      if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") pixels *= (size + stride - 1) / stride;
      else pixels *= std::max<int64_t>(0, (size + (auto_pad == "VALID" ? 0 : pad) - dilation * (k - 1) - 1) / stride + 1);
    }
    return 2 * pixels * in[1][0] * in[1][1] * in[1][2] * in[1][3];
  }
  if (op == "Conv" || op == "ConvInteger" || op == "QLinearConv") {
    const Shape& w = in[op == "QLinearConv" ? 3 : 1];
    if (w.size() < 2) return 0;
    int64_t per_output = 1;  // weight elements per output channel = C/group * kernel
    for (size_t i = 1; i < w.size(); ++i) per_output *= w[i];
    return 2 * out_n * per_output;
  }
  if (op == "ConvTranspose") {
    const Shape& w = in[1];
    if (w.size() < 2) return 0;
    return 2 * numel(in[0]) * (numel(w) / w[0]);
  }
  if (op == "MatMul" || op == "Gemm" || op == "MatMulInteger" || op == "QLinearMatMul") {
    const Shape& a = in[0];
    if (a.empty()) return 0;
    int64_t k = a.back();
    if (op == "Gemm" && node.attr_int("transA", 0)) k = a[0];
    return 2 * out_n * k;
  }
  if (op == "MaxPool" || op == "AveragePool") {
    int64_t kernel = 1;
    for (int64_t k : node.attr_ints("kernel_shape")) kernel *= k;
    return out_n * kernel;
  }
  if (op == "GlobalAveragePool" || op == "GlobalMaxPool" || op.rfind("Reduce", 0) == 0) return numel(in[0]);
  if (op == "Softmax" || op == "LogSoftmax" || op == "LayerNormalization" || op == "BatchNormalization") return 5 * out_n;
  static const char* kElementwise[] = {"Add", "Sub", "Mul", "Div", "Relu", "Clip", "Sigmoid", "HardSwish", "HardSigmoid",
                                       "Tanh", "Exp", "Pow", "Sqrt", "Max", "Min", "LeakyRelu", "Erf", "Where", "Sum"};
  for (const char* e : kElementwise)
    if (op == e) return out_n;
  return 0;
}

}  // namespace edgerun

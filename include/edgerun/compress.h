// Model compression: post-training int8 quantization to standard QDQ ONNX files, fp16 weight
// storage, and per-layer precision reports.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edgerun/session.h"

namespace edgerun {

// One calibration (or evaluation) sample: a tensor for every model input.
using Sample = std::map<std::string, Tensor>;

enum class CalibrationMethod {
  kMinMax,      // observed minimum and maximum
  kPercentile,  // clips both tails at `percentile`
  kEntropy,     // threshold minimizing the KL divergence between float and quantized histograms
  kMse,         // range minimizing the expected squared error (clipping outside, rounding inside)
};
// "minmax", "percentile", "entropy", "mse"; throws Error(kInvalidArgument) for anything else.
CalibrationMethod parse_calibration_method(const std::string& name);

struct QuantizeOptions {
  CalibrationMethod method = CalibrationMethod::kMse;
  double percentile = 99.99;
  // Subtract from each layer's bias the mean shift its int8 rounding adds to its outputs (measured on
  // the calibration samples, per output channel).
  bool bias_correction = true;
  // Rescale convolution inputs per channel where it costs almost nothing (squeeze-excitation products,
  // [N, C, 1, 1] inputs), folding the inverse scale into the weights, so that per-tensor int8 ranges
  // fit every channel.
  bool equalize_channels = true;
  // Bits of the symmetric weights of ungrouped convolutions (2..8; other layers keep 8): 7 keeps every
  // pair of weights small enough for the int8 kernel that multiplies with vpmaddubsw on CPUs without
  // VNNI (twice the multiply-adds per instruction), at a small cost in accuracy.
  int conv_weight_bits = 8;
  // Node names or op types left in float32.
  std::vector<std::string> exclude;
  // Automatic mode: keeps layers in float32 until the quantized model's outputs on the calibration
  // samples agree with the float model: mean cosine similarity >= min_cosine and top-1 agreement >=
  // min_top1_agreement (first output, last axis). Layers go in order of the accuracy they give back
  // per multiply-add they cost, so cheap sensitive layers (squeeze-excitation gates) go first.
  bool automatic = false;
  double min_cosine = 0.995;
  double min_top1_agreement = 0.99;
  int max_float_layers = 1 << 30;  // at most this many layers kept in float32 by the automatic mode
  int num_threads = 0;  // for calibration runs; 0: physical cores
  std::function<void(const std::string&)> log;  // progress lines; may be empty
};

// Quantization error of one layer, measured on the calibration samples.
struct LayerError {
  std::string node;     // the quantized node
  std::string op_type;
  double sqnr_db = 0;      // signal-to-quantization-noise ratio of its output, in dB (higher is better)
  double noise_added = 0;  // rise of the noise-to-signal power ratio from its float inputs to its output
};

struct QuantizeReport {
  int quantized_nodes = 0;
  std::vector<std::string> float_nodes;     // candidates kept in float32 (excluded or automatic)
  std::vector<LayerError> layers;            // sorted by noise_added, largest first
  double mean_cosine = 0;                   // quantized vs float outputs on the calibration samples
  double top1_agreement = 0;
  size_t calibration_samples = 0;
};

// Quantizes `model` statically with the calibration samples and writes a QDQ ONNX model:
// per-channel symmetric int8 weights, per-tensor asymmetric int8 activations, int32 biases.
// Throws Error(kInvalidArgument) for empty, mis-shaped or non-finite calibration data.
QuantizeReport quantize_model(const Model& model, const std::vector<Sample>& calibration,
                              const QuantizeOptions& options, const std::string& out_path);

// Writes `model` with float32 weights stored as float16 (each followed by a Cast to float32, so
// computation stays in float32 with fp16-rounded weights). Returns the number of converted tensors.
int convert_weights_to_fp16(const Model& model, const std::string& out_path);

// Precision of each layer with weights, for `edgerun info`.
struct LayerPrecision {
  std::string node;
  std::string op_type;
  std::string precision;  // "int8", "fp16", "fp32", ...
  size_t weight_bytes = 0;
};
std::vector<LayerPrecision> layer_precisions(const Model& model);

// Cosine similarity of two float tensors' values (1 when both are all zero).
double cosine_similarity(const Tensor& a, const Tensor& b);

}  // namespace edgerun

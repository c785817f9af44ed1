#include "tools/edgerun/compress.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

namespace fs = std::filesystem;

namespace edgerun::cli {
namespace {

std::vector<float> parse_floats(const std::string& text, const char* what) {
  std::vector<float> v;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    try {
      size_t used = 0;
      v.push_back(std::stof(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": '" + item + "' is not a number");
    }
  }
  return v;
}

std::string human_size(uintmax_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

std::shared_ptr<Model> load(const std::string& path) {
  if (path.empty()) throw Error(ErrorCode::kInvalidArgument, "no model given");
  return Model::load(path);
}

}  // namespace

void add_image_options(CLI::App* cmd, ImagePreprocess& pre, ImageOptionText& text) {
  cmd->add_option("--image-scale", pre.scale, "Multiply 0..255 pixels by this first (default 1/255)");
  cmd->add_option("--image-mean", text.mean, "Per-channel mean subtracted after scaling, e.g. 0.485,0.456,0.406");
  cmd->add_option("--image-std", text.std, "Per-channel std divided after the mean, e.g. 0.229,0.224,0.225");
}

void finish_image_options(ImagePreprocess& pre, const ImageOptionText& text) {
  if (!text.mean.empty()) pre.mean = parse_floats(text.mean, "--image-mean");
  if (!text.std.empty()) pre.std = parse_floats(text.std, "--image-std");
  for (float s : pre.std)
    if (!(s > 0)) throw Error(ErrorCode::kInvalidArgument, "--image-std values must be positive");
}

CLI::App* add_quantize_command(CLI::App& app, CompressOptions& o) {
  auto* cmd = app.add_subcommand("quantize", "Post-training static int8 quantization to a QDQ ONNX model");
  cmd->add_option("model", o.model, "Float ONNX model")->required();
  cmd->add_option("--calibration,-c", o.data.source,
                  "Calibration data: 'fashion-mnist' (training split) or a folder of .png/.jpg/.npy files")
      ->required();
  cmd->add_option("--output,-o", o.output, "Output QDQ ONNX file")->required();
  cmd->add_option("--method", o.method, "Calibration: mse (default), minmax, percentile or entropy")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy", "mse"}));
  cmd->add_option("--percentile", o.percentile, "Percentile kept by --method percentile (default 99.99)");
  cmd->add_option("--exclude", o.exclude, "Node names or op types to keep in float32 (repeatable)");
  cmd->add_flag("--no-equalization", o.no_equalization,
                "Do not rescale convolution inputs per channel where it is free (squeeze-excitation products, [N, C, 1, 1] inputs)");
  cmd->add_option("--conv-weight-bits", o.conv_weight_bits,
                  "Bits of ungrouped convolutions' weights (default 8; 7 lets CPUs without VNNI multiply them with "
                  "vpmaddubsw, about twice as fast; 6 also lets layers of 64 or more input values add two "
                  "products in 16 bits, up to 15 % faster again; each bit costs a little accuracy)")
      ->check(CLI::Range(2, 8));
  cmd->add_flag("--no-bias-correction", o.no_bias_correction,
                "Keep the float biases (default: subtract the mean shift int8 rounding adds to each layer's outputs)");
  cmd->add_flag("--auto", o.automatic,
                "Keep layers in float32, the most accuracy per multiply-add first, until the accuracy budget is met");
  cmd->add_option("--min-cosine", o.min_cosine, "Budget for --auto: mean cosine similarity to the float outputs");
  cmd->add_option("--min-agreement", o.min_agreement, "Budget for --auto: top-1 agreement with the float model");
  cmd->add_option("--limit", o.data.limit, "Calibration samples to use (default 100)");
  cmd->add_flag("--layers", o.all_layers, "Report the noise of every quantized layer, not only the worst five");
  cmd->add_option("--data-dir", o.data.data_dir, "Folder of the Fashion-MNIST files");
  cmd->add_option("--threads", o.threads, "Threads for calibration runs (default: physical cores)");
  add_image_options(cmd, o.data.pre, o.image_text);
  o.data.split = "train";
  o.data.limit = 100;
  return cmd;
}

CLI::App* add_convert_command(CLI::App& app, CompressOptions& o) {
  auto* cmd = app.add_subcommand("convert", "Rewrite a model's storage (--fp16: weights in half precision)");
  cmd->add_option("model", o.model, "ONNX model")->required();
  cmd->add_option("--output,-o", o.output, "Output ONNX file")->required();
  cmd->add_flag("--fp16", o.fp16, "Store float32 weights as float16")->required();
  return cmd;
}

int run_quantize(const CompressOptions& o) {
  CompressOptions opts = o;
  finish_image_options(opts.data.pre, opts.image_text);
  auto model = load(opts.model);
  SampleSource source(*model, opts.data);
  std::vector<Sample> samples;
  samples.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) samples.push_back(source.get(i));
  QuantizeOptions q;
  q.method = parse_calibration_method(opts.method);
  q.percentile = opts.percentile;
  q.exclude = opts.exclude;
  q.automatic = opts.automatic;
  q.bias_correction = !opts.no_bias_correction;
  q.equalize_channels = !opts.no_equalization;
  q.conv_weight_bits = opts.conv_weight_bits;
  q.min_cosine = opts.min_cosine;
  q.min_top1_agreement = opts.min_agreement;
  q.num_threads = opts.threads;
  q.log = [](const std::string& line) { std::cerr << line << "\n"; };
  std::cout << "calibration: " << samples.size() << " samples from " << source.description() << ", method " << opts.method
            << "\n";
  const QuantizeReport r = quantize_model(*model, samples, q, opts.output);
  std::printf("quantized layers: %d, kept in float32: %zu\n", r.quantized_nodes, r.float_nodes.size());
  for (const auto& n : r.float_nodes) std::printf("  float32: %s\n", n.c_str());
  std::printf("on the calibration samples: mean cosine similarity %.5f, top-1 agreement %.4f\n", r.mean_cosine,
              r.top1_agreement);
  std::printf("layers adding the most noise (output SQNR; rise of the noise-to-signal ratio across the layer):\n");
  for (size_t i = 0; i < r.layers.size() && (opts.all_layers || i < 5); ++i)
    std::printf("  %-12s %-40s %6.1f dB  +%.5f\n", r.layers[i].op_type.c_str(), r.layers[i].node.c_str(),
                r.layers[i].sqnr_db, r.layers[i].noise_added);
  std::printf("size: %s -> %s (%s)\n", human_size(fs::file_size(opts.model)).c_str(),
              human_size(fs::file_size(opts.output)).c_str(), opts.output.c_str());
  return 0;
}

int run_convert(const CompressOptions& o) {
  auto model = load(o.model);
  const int n = convert_weights_to_fp16(*model, o.output);
  std::printf("fp16 weights: %d tensors; size %s -> %s (%s)\n", n, human_size(fs::file_size(o.model)).c_str(),
              human_size(fs::file_size(o.output)).c_str(), o.output.c_str());
  return 0;
}

}  // namespace edgerun::cli

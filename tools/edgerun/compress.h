// `edgerun quantize` and `edgerun convert`: compression subcommands.
#pragma once
#include <CLI/CLI.hpp>

#include "tools/edgerun/datasets.h"

namespace edgerun::cli {

// --image-scale/--image-mean/--image-std for commands that read images.
struct ImageOptionText {
  std::string mean, std;
};
void add_image_options(CLI::App* cmd, ImagePreprocess& pre, ImageOptionText& text);
void finish_image_options(ImagePreprocess& pre, const ImageOptionText& text);

struct CompressOptions {
  std::string model, output, method = "mse";
  double percentile = 99.99;
  std::vector<std::string> exclude;
  bool automatic = false, fp16 = false, all_layers = false, no_bias_correction = false, no_equalization = false;
  int conv_weight_bits = 8;
  double min_cosine = 0.995, min_agreement = 0.99;
  int threads = 0;
  DataSpec data;
  ImageOptionText image_text;
};

CLI::App* add_quantize_command(CLI::App& app, CompressOptions& opts);
CLI::App* add_convert_command(CLI::App& app, CompressOptions& opts);
int run_quantize(const CompressOptions& opts);
int run_convert(const CompressOptions& opts);

}  // namespace edgerun::cli

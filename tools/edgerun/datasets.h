// Where `evaluate` and `quantize` get their inputs: the Fashion-MNIST files from Debian's package, or
// a folder of images / .npy tensors (one sub-folder per class gives labels).
#pragma once
#include <string>
#include <vector>

#include "edgerun/compress.h"
#include "edgerun/io.h"

namespace edgerun::cli {

struct DataSpec {
  std::string source = "fashion-mnist";  // dataset name or folder
  std::string split = "test";            // Fashion-MNIST: "test" or "train"
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  ImagePreprocess pre;                   // scale/mean/std/layout; size and channels follow the model
  int limit = 0;                         // first N samples only (0: all)
};

// Sizes images to a 4-D model input: height and width where not set yet and known from the model,
// one channel where the model takes one.
void fit_image_to_input(const ValueDesc& input, ImagePreprocess& pre);

// Samples for a single-input model, decoded on demand so large sets do not sit in memory.
class SampleSource {
 public:
  SampleSource(const Model& model, const DataSpec& spec);
  size_t size() const { return count_; }
  Sample get(size_t i) const;
  int label(size_t i) const { return labels_.empty() ? -1 : labels_[i]; }
  bool labelled() const { return !labels_.empty(); }
  const std::vector<std::string>& classes() const { return classes_; }
  const std::string& description() const { return description_; }

 private:
  std::string input_name_;
  ImagePreprocess pre_;
  Tensor idx_images_;                 // Fashion-MNIST pixels [N, 28, 28]
  std::vector<std::string> files_;    // folder source
  std::vector<int> labels_;
  std::vector<std::string> classes_;
  size_t count_ = 0;
  std::string description_;
};

}  // namespace edgerun::cli

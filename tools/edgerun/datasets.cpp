#include "tools/edgerun/datasets.h"

#include <algorithm>
#include <filesystem>

namespace fs = std::filesystem;

namespace edgerun::cli {
namespace {

std::string lower_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext;
}

bool is_sample_file(const fs::path& p) {
  const std::string ext = lower_extension(p);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".npy";
}

std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

void fit_image_to_input(const ValueDesc& input, ImagePreprocess& pre) {
  if (input.dims.size() != 4) return;
  const auto& d = input.dims;
  const size_t c = pre.nchw ? 1 : 3, h = pre.nchw ? 2 : 1, w = pre.nchw ? 3 : 2;
  if (pre.height == 0 && d[h].value > 0) pre.height = static_cast<int>(d[h].value);
  if (pre.width == 0 && d[w].value > 0) pre.width = static_cast<int>(d[w].value);
  if (d[c].value == 1) pre.channels = 1;
}

SampleSource::SampleSource(const Model& model, const DataSpec& spec) : pre_(spec.pre) {
  if (model.inputs().size() != 1)
    throw Error(ErrorCode::kInvalidArgument, "this command needs a single-input model; the model has " +
                                                 std::to_string(model.inputs().size()) + " inputs");
  const ValueDesc& in = model.inputs()[0];
  input_name_ = in.name;
  fit_image_to_input(in, pre_);
  if (spec.source == "fashion-mnist") {
    if (spec.split != "test" && spec.split != "train")
      throw Error(ErrorCode::kInvalidArgument, "Fashion-MNIST split must be 'test' or 'train', got '" + spec.split + "'");
    const std::string prefix = spec.split == "test" ? "t10k" : "train";
    idx_images_ = load_idx((fs::path(spec.data_dir) / (prefix + "-images-idx3-ubyte.gz")).string());
    const Tensor labels = load_idx((fs::path(spec.data_dir) / (prefix + "-labels-idx1-ubyte.gz")).string());
    if (idx_images_.rank() != 3 || labels.rank() != 1 || idx_images_.dim(0) != labels.dim(0))
      throw Error(ErrorCode::kInvalidArgument, "dataset files do not match: images " + shape_str(idx_images_.shape()) +
                                                   ", labels " + shape_str(labels.shape()));
    labels_.assign(labels.data<uint8_t>(), labels.data<uint8_t>() + labels.numel());
    count_ = labels_.size();
    classes_ = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    description_ = "Fashion-MNIST " + spec.split + " set (" + spec.data_dir + ")";
  } else {
    const fs::path dir(spec.source);
    if (!fs::is_directory(dir))
      throw Error(ErrorCode::kInvalidArgument, "'" + spec.source + "' is neither a known dataset (fashion-mnist) nor a folder");
    std::vector<fs::path> class_dirs;
    for (const auto& p : sorted_entries(dir)) {
      if (fs::is_directory(p)) class_dirs.push_back(p);
      else if (is_sample_file(p)) files_.push_back(p.string());
    }
    if (!files_.empty() && !class_dirs.empty())
      throw Error(ErrorCode::kInvalidArgument, "'" + spec.source + "' mixes sample files and class folders");
    for (size_t c = 0; c < class_dirs.size(); ++c) {
      classes_.push_back(class_dirs[c].filename().string());
      for (const auto& p : sorted_entries(class_dirs[c]))
        if (is_sample_file(p)) {
          files_.push_back(p.string());
          labels_.push_back(static_cast<int>(c));
        }
    }
    if (files_.empty())
      throw Error(ErrorCode::kInvalidArgument, "'" + spec.source + "' holds no .png, .jpg or .npy files");
    count_ = files_.size();
    description_ = "folder " + spec.source + (labels_.empty() ? "" : " (" + std::to_string(classes_.size()) + " classes)");
  }
  if (spec.limit > 0) count_ = std::min(count_, static_cast<size_t>(spec.limit));
  if (!labels_.empty()) labels_.resize(count_);
}

Sample SampleSource::get(size_t i) const {
  Tensor t;
  if (!idx_images_.empty()) {
    const int64_t h = idx_images_.dim(1), w = idx_images_.dim(2);
    t = preprocess_pixels(idx_images_.data<uint8_t>() + static_cast<int64_t>(i) * h * w, static_cast<int>(w),
                          static_cast<int>(h), 1, pre_);
  } else if (lower_extension(files_[i]) == ".npy") {
    t = load_npy(files_[i]);
  } else {
    t = load_image(files_[i], pre_);
  }
  return {{input_name_, std::move(t)}};
}

}  // namespace edgerun::cli

// Reading and writing tensors and datasets: .npy, ONNX TensorProto .pb, PNG/JPEG images, IDX (MNIST-style).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "edgerun/tensor.h"

namespace edgerun {

// NumPy .npy (format 1.0-3.0, little-endian, C order). Throws Error on malformed files.
Tensor load_npy(const std::string& path);
Tensor parse_npy(const void* data, size_t size, const std::string& what = "npy data");
void save_npy(const Tensor& t, const std::string& path);

// ONNX TensorProto files as used by the conformance data.
Tensor load_tensor_file(const std::string& path, std::string* name = nullptr);
void save_tensor_file(const Tensor& t, const std::string& name, const std::string& path);

// Image preprocessing: decode, convert channels, resize (bilinear), scale, normalize, lay out.
struct ImagePreprocess {
  int width = 0, height = 0;       // 0 keeps the decoded size
  int channels = 3;                // 1 (grayscale) or 3 (RGB)
  bool nchw = true;                // false: NHWC
  float scale = 1.0f / 255.0f;     // applied to 0..255 pixel values first
  std::vector<float> mean;         // per channel, subtracted after scaling (empty: none)
  std::vector<float> std;          // per channel, divided after mean (empty: none)
};
// Decodes a PNG or JPEG file into a float32 tensor of shape [1,C,H,W] (or [1,H,W,C]).
Tensor load_image(const std::string& path, const ImagePreprocess& pre);
// The same preprocessing for decoded 8-bit pixels (HWC, 1 or 3 channels; gray is replicated to RGB
// and RGB turned into luma as `pre.channels` asks).
Tensor preprocess_pixels(const uint8_t* pixels, int width, int height, int channels, const ImagePreprocess& pre);

// IDX files (optionally gzip-compressed), e.g. the Fashion-MNIST files. Returns uint8 data with
// the file's shape ([N,28,28] images or [N] labels).
Tensor load_idx(const std::string& path);

}  // namespace edgerun

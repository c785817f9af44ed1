#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

#include "edgerun/error.h"
#include "edgerun/io.h"

namespace edgerun {
namespace {

struct Image {
  int width = 0, height = 0, channels = 0;  // channels: 1 or 3
  std::vector<uint8_t> pixels;              // HWC
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr int kMaxSide = 16384;  // refuse decompression bombs before allocating

Image decode_png(const std::string& bytes, const std::string& path, int want_channels) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, bytes.data(), bytes.size()))
    throw Error(ErrorCode::kInvalidArgument, "'" + path + "': invalid PNG: " + img.message);
  if (img.width == 0 || img.height == 0 || img.width > kMaxSide || img.height > kMaxSide) {
    png_image_free(&img);
    throw Error(ErrorCode::kInvalidArgument, "'" + path + "': PNG dimensions out of range");
  }
  img.format = want_channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  Image out;
  out.width = static_cast<int>(img.width);
  out.height = static_cast<int>(img.height);
  out.channels = want_channels;
  out.pixels.resize(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, nullptr, out.pixels.data(), 0, nullptr)) {
    std::string msg = img.message;
    png_image_free(&img);
    throw Error(ErrorCode::kInvalidArgument, "'" + path + "': invalid PNG: " + msg);
  }
  return out;
}

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

Image decode_jpeg(const std::string& bytes, const std::string& path, int want_channels) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.output_message = [](j_common_ptr) {};
  Image out;  // declared before setjmp so longjmp leaves no live C++ objects to unwind past
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(ErrorCode::kInvalidArgument, "'" + path + "': invalid JPEG: " + err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = want_channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_width > kMaxSide || cinfo.output_height > kMaxSide) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(ErrorCode::kInvalidArgument, "'" + path + "': JPEG dimensions out of range");
  }
  out.width = static_cast<int>(cinfo.output_width);
  out.height = static_cast<int>(cinfo.output_height);
  out.channels = cinfo.output_components;
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * out.channels);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.pixels.data() + static_cast<size_t>(cinfo.output_scanline) * out.width * out.channels;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return out;
}

// Bilinear sample with half-pixel centers (what torchvision's Resize does without antialiasing).
float sample(const Image& im, float x, float y, int c) {
  x = std::min(std::max(x, 0.0f), static_cast<float>(im.width - 1));
  y = std::min(std::max(y, 0.0f), static_cast<float>(im.height - 1));
  const int x0 = static_cast<int>(x), y0 = static_cast<int>(y);
  const int x1 = std::min(x0 + 1, im.width - 1), y1 = std::min(y0 + 1, im.height - 1);
  const float fx = x - x0, fy = y - y0;
  auto px = [&](int xx, int yy) { return static_cast<float>(im.pixels[(static_cast<size_t>(yy) * im.width + xx) * im.channels + c]); };
  return (px(x0, y0) * (1 - fx) + px(x1, y0) * fx) * (1 - fy) + (px(x0, y1) * (1 - fx) + px(x1, y1) * fx) * fy;
}

// Resizes, scales, normalizes and lays out decoded pixels (already in pre.channels channels).
Tensor to_tensor(const Image& im, const ImagePreprocess& pre) {
  const int W = pre.width > 0 ? pre.width : im.width, H = pre.height > 0 ? pre.height : im.height;
  const int C = pre.channels;
  for (const auto* v : {&pre.mean, &pre.std})
    if (!v->empty() && static_cast<int>(v->size()) != C)
      throw Error(ErrorCode::kInvalidArgument, "mean/std need one value per channel (" + std::to_string(C) + ")");
  Tensor t(DType::kFloat32, pre.nchw ? Shape{1, C, H, W} : Shape{1, H, W, C});
  float* out = t.data<float>();
  const float sx = static_cast<float>(im.width) / W, sy = static_cast<float>(im.height) / H;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < C; ++c) {
        float v = (W == im.width && H == im.height)
                      ? static_cast<float>(im.pixels[(static_cast<size_t>(y) * im.width + x) * im.channels + c])
                      : sample(im, (x + 0.5f) * sx - 0.5f, (y + 0.5f) * sy - 0.5f, c);
        v *= pre.scale;
        if (!pre.mean.empty()) v -= pre.mean[c];
        if (!pre.std.empty()) v /= pre.std[c];
        const size_t idx = pre.nchw ? (static_cast<size_t>(c) * H + y) * W + x : (static_cast<size_t>(y) * W + x) * C + c;
        out[idx] = v;
      }
  return t;
}

}  // namespace

Tensor preprocess_pixels(const uint8_t* pixels, int width, int height, int channels, const ImagePreprocess& pre) {
  if (pre.channels != 1 && pre.channels != 3) throw Error(ErrorCode::kInvalidArgument, "image channels must be 1 or 3");
  if (channels != 1 && channels != 3) throw Error(ErrorCode::kInvalidArgument, "pixels must have 1 or 3 channels");
  if (width <= 0 || height <= 0) throw Error(ErrorCode::kInvalidArgument, "image has no pixels");
  Image im;
  im.width = width;
  im.height = height;
  im.channels = pre.channels;
  const size_t count = static_cast<size_t>(width) * height;
  im.pixels.resize(count * pre.channels);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* p = pixels + i * channels;
    if (channels == pre.channels) std::copy(p, p + channels, &im.pixels[i * pre.channels]);
    else if (channels == 1) std::fill_n(&im.pixels[i * 3], 3, p[0]);  // gray replicated to RGB
    else im.pixels[i] = static_cast<uint8_t>(std::lround(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]));  // ITU-R BT.601 luma
  }
  return to_tensor(im, pre);
}

Tensor load_image(const std::string& path, const ImagePreprocess& pre) {
  if (pre.channels != 1 && pre.channels != 3) throw Error(ErrorCode::kInvalidArgument, "image channels must be 1 or 3");
  const std::string bytes = read_bytes(path);
  Image im;
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), "\x89PNG\r\n\x1a\n", 8) == 0) im = decode_png(bytes, path, pre.channels);
  else if (bytes.size() >= 3 && std::memcmp(bytes.data(), "\xff\xd8\xff", 3) == 0) im = decode_jpeg(bytes, path, pre.channels);
  else throw Error(ErrorCode::kInvalidArgument, "'" + path + "' is neither a PNG nor a JPEG image");
  return to_tensor(im, pre);
}

Tensor load_idx(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files too
  if (!f) throw Error(ErrorCode::kIo, "cannot open '" + path + "'");
  std::string bytes;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(n));
  const bool failed = n < 0;
  gzclose(f);
  if (failed) throw Error(ErrorCode::kIo, "'" + path + "': corrupt gzip data");
  auto be32 = [&](size_t off) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + off;
    return (static_cast<uint32_t>(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
  };
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0 || static_cast<unsigned char>(bytes[2]) != 0x08)
    throw Error(ErrorCode::kInvalidArgument, "'" + path + "' is not an unsigned-byte IDX file");
  const int rank = static_cast<unsigned char>(bytes[3]);
  if (rank < 1 || rank > 4 || bytes.size() < 4 + 4u * rank) throw Error(ErrorCode::kInvalidArgument, "'" + path + "': bad IDX header");
  Shape shape;
  for (int i = 0; i < rank; ++i) shape.push_back(be32(4 + 4 * i));
  Tensor t(DType::kUInt8, shape);
  const size_t offset = 4 + 4 * rank;
  if (bytes.size() - offset != t.nbytes())
    throw Error(ErrorCode::kInvalidArgument, "'" + path + "': data size does not match IDX shape " + shape_str(shape));
  std::memcpy(t.raw(), bytes.data() + offset, t.nbytes());
  return t;
}

}  // namespace edgerun

// The edgerun binary: exact command forms, outputs written as .npy, clear errors with non-zero exit.
#include <gtest/gtest.h>
#include <png.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <fstream>

#include "edgerun/edgerun.h"
#include "edgerun/io.h"
#include "../unit/model_builder.h"

using namespace edgerun;
namespace fs = std::filesystem;

namespace {

struct Result {
  int exit_code;
  std::string output;  // stdout + stderr
};

Result run_cli(const std::string& args) {
  const std::string cmd = std::string(EDGERUN_CLI) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("edgerun_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    test::ModelSpec m;
    m.input("x", {2, 3});
    m.node("Identity", {"x"}, {"y"}, "copy");
    m.node("Shape", {"x"}, {"s"}, "shape_of_x");
    m.output("y", {2, 3});
    m.output("s", {2}, onnx::TensorProto::INT64);
    std::ofstream(dir_ / "identity.onnx", std::ios::binary) << m.bytes();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(Cli, RunWritesOutputsAsNpy) {
  Tensor x(DType::kFloat32, {2, 3});
  for (int i = 0; i < 6; ++i) x.data<float>()[i] = 0.5f * i - 1;
  save_npy(x, path("x.npy"));
  const Result r = run_cli("run " + path("identity.onnx") + " --input x=" + path("x.npy") + " --output-dir " + path("out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Tensor y = load_npy(path("out/y.npy"));
  ASSERT_EQ(y.shape(), x.shape());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y.data<float>()[i], x.data<float>()[i]);
  const Tensor s = load_npy(path("out/s.npy"));
  ASSERT_EQ(s.dtype(), DType::kInt64);
  EXPECT_EQ(s.data<int64_t>()[0], 2);
  EXPECT_EQ(s.data<int64_t>()[1], 3);
}

TEST_F(Cli, BareInputBindsTheSingleInputAndPbWorks) {
  Tensor x(DType::kFloat32, {2, 3});
  for (int i = 0; i < 6; ++i) x.data<float>()[i] = static_cast<float>(i);
  save_tensor_file(x, "x", path("x.pb"));
  const Result r = run_cli("run " + path("identity.onnx") + " --input " + path("x.pb") + " -o " + path("out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(load_npy(path("out/y.npy")).data<float>()[5], 5.0f);
}

TEST_F(Cli, RunReadsPngWithPreprocessing) {
  // A 2x3 RGB image whose model input is [1,3,2,3] float.
  const unsigned char rgb[2 * 3 * 3] = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 255};
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = 3;
  img.height = 2;
  img.format = PNG_FORMAT_RGB;
  ASSERT_TRUE(png_image_write_to_file(&img, path("img.png").c_str(), 0, rgb, 0, nullptr));
  test::ModelSpec m;
  m.input("image", {1, 3, 2, 3});
  m.node("Identity", {"image"}, {"pixels"});
  m.output("pixels", {1, 3, 2, 3});
  std::ofstream(path("img_model.onnx"), std::ios::binary) << m.bytes();
  const Result r = run_cli("run " + path("img_model.onnx") + " --input " + path("img.png") +
                           " --image-mean 0.5,0.5,0.5 --image-std 0.25,0.25,0.25 -o " + path("out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Tensor y = load_npy(path("out/pixels.npy"));
  ASSERT_EQ(y.shape(), (Shape{1, 3, 2, 3}));
  // NCHW: channel c, row h, column w comes from rgb[(h*3 + w)*3 + c].
  for (int c = 0; c < 3; ++c)
    for (int h = 0; h < 2; ++h)
      for (int w = 0; w < 3; ++w) {
        const float expected = (rgb[(h * 3 + w) * 3 + c] / 255.0f - 0.5f) / 0.25f;
        EXPECT_NEAR(y.data<float>()[(c * 2 + h) * 3 + w], expected, 1e-6);
      }
}

TEST_F(Cli, InfoDescribesModel) {
  const Result r = run_cli("info " + path("identity.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("x: float32[2,3]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("planned arena"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Identity"), std::string::npos) << r.output;
}

TEST_F(Cli, ErrorsExitNonZeroWithMessage) {
  std::ofstream(path("garbage.onnx")) << "definitely not a model";
  std::ofstream(path("empty.onnx"));
  Tensor wrong(DType::kFloat32, {4, 4});
  save_npy(wrong, path("wrong.npy"));
  const std::string truncated_npy("\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'", 25);
  std::ofstream(path("bad.npy"), std::ios::binary) << truncated_npy;
  const struct { std::string args, expect; } cases[] = {
      {"run " + path("garbage.onnx") + " --input " + path("wrong.npy"), "not a valid ONNX model"},
      {"run " + path("empty.onnx") + " --input " + path("wrong.npy"), "empty"},
      {"run " + path("missing.onnx") + " --input " + path("wrong.npy"), "cannot open"},
      {"run " + path("identity.onnx") + " --input " + path("wrong.npy"), "expects shape"},
      {"run " + path("identity.onnx") + " --input nope=" + path("wrong.npy"), "no input named 'nope'"},
      {"run " + path("identity.onnx") + " --input " + path("bad.npy"), "truncated"},
      {"run " + path("identity.onnx") + " --input x=" + path("absent.npy"), "cannot open"},
      {"info " + path("garbage.onnx"), "not a valid ONNX model"},
  };
  for (const auto& c : cases) {
    const Result r = run_cli(c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find("error:"), std::string::npos) << r.output;
  }
}

}  // namespace

// Compression commands on the default Fashion-MNIST model and the dataset from Debian's package.
TEST_F(Cli, QuantizeConvertAndEvaluateAgainstReference) {
  const std::string model = std::string(EDGERUN_SOURCE_DIR) + "/models/fashion_mnist_cnn.onnx";
  Result r = run_cli("quantize " + model + " --calibration fashion-mnist --limit 64 --threads 1 -o " + path("int8.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("quantized layers: 7"), std::string::npos) << r.output;
  EXPECT_LT(fs::file_size(path("int8.onnx")), 0.3 * fs::file_size(model));
  r = run_cli("evaluate " + path("int8.onnx") + " --dataset fashion-mnist --limit 300 --reference " + model);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("top-1 agreement with the reference: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("mean cosine similarity to the reference outputs: 0.99"), std::string::npos) << r.output;
  r = run_cli("info " + path("int8.onnx"));
  EXPECT_NE(r.output.find("weight precision: int8 (QDQ) 4 layers"), std::string::npos) << r.output;

  r = run_cli("convert " + model + " --fp16 -o " + path("fp16.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_LT(fs::file_size(path("fp16.onnx")), 0.55 * fs::file_size(model));
  r = run_cli("evaluate " + path("fp16.onnx") + " --limit 300 --reference " + model);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("top-1 agreement with the reference: 100.00 %"), std::string::npos) << r.output;
  r = run_cli("info " + path("fp16.onnx"));
  EXPECT_NE(r.output.find("weight precision: fp16 4 layers"), std::string::npos) << r.output;
}

TEST_F(Cli, QuantizeRejectsUnusableCalibrationData) {
  const std::string model = std::string(EDGERUN_SOURCE_DIR) + "/models/fashion_mnist_cnn.onnx";
  fs::create_directories(path("empty"));
  Result r = run_cli("quantize " + model + " -c " + path("empty") + " -o " + path("q.onnx"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("holds no .png, .jpg or .npy files"), std::string::npos) << r.output;
  fs::create_directories(path("wrong"));
  save_npy(Tensor(DType::kFloat32, {1, 1, 14, 14}), path("wrong/a.npy"));
  r = run_cli("quantize " + model + " -c " + path("wrong") + " -o " + path("q.onnx"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("has shape [1,1,14,14]"), std::string::npos) << r.output;
  fs::create_directories(path("nan"));
  Tensor bad(DType::kFloat32, {1, 1, 28, 28});
  for (int64_t i = 0; i < bad.numel(); ++i) bad.data<float>()[i] = i == 5 ? NAN : 0.5f;
  save_npy(bad, path("nan/a.npy"));
  r = run_cli("quantize " + model + " -c " + path("nan") + " -o " + path("q.onnx"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("contains NaN"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(path("q.onnx")));
  r = run_cli("quantize " + model + " -c no-such-dataset -o " + path("q.onnx"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("neither a known dataset"), std::string::npos) << r.output;
}

TEST_F(Cli, EvaluateReadsLabelledImageFolders) {
  // The first 60 Fashion-MNIST test images, filed by label: the folder gives the same accuracy as the
  // dataset itself.
  const Tensor images = load_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
  const Tensor labels = load_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
  for (int i = 0; i < 60; ++i) {
    Tensor x(DType::kFloat32, {1, 1, 28, 28});
    for (int k = 0; k < 784; ++k) x.data<float>()[k] = images.data<uint8_t>()[i * 784 + k] / 255.0f;
    const std::string dir = path("folder/class" + std::to_string(labels.data<uint8_t>()[i]));
    fs::create_directories(dir);
    save_npy(x, dir + "/" + std::to_string(i) + ".npy");
  }
  const Result a = run_cli("evaluate --dataset " + path("folder"));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_NE(a.output.find("(10 classes), 60 samples"), std::string::npos) << a.output;
  const Result b = run_cli("evaluate --dataset fashion-mnist --limit 60");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  const auto accuracy_line = [](const std::string& out) { return out.substr(out.find("accuracy: "), 30); };
  EXPECT_EQ(accuracy_line(a.output), accuracy_line(b.output));
}

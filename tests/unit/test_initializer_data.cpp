// The loader reads the main graph's weights straight into tensors, the rest of the model through the
// protobuf parser: both halves must give exactly what a whole parse gives, and any file that does not
// split plainly must take the whole-parse path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "edgerun/edgerun.h"
#include "ir/graph.h"
#include "model_builder.h"
#include "onnx/initializer_data.h"

using namespace edgerun;
using edgerun::test::ModelSpec;
namespace fs = std::filesystem;

namespace {

ReadAt read_from(const std::string& bytes) {
  return [&bytes](uint64_t offset, void* dst, size_t n) {
    if (offset > bytes.size() || n > bytes.size() - offset) return false;
    std::memcpy(dst, bytes.data() + offset, n);
    return true;
  };
}

// One length-delimited protobuf field.
std::string field(int number, const std::string& value) {
  std::string out;
  for (uint64_t v : {static_cast<uint64_t>(number) << 3 | 2, static_cast<uint64_t>(value.size())}) {
    for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>(v | 0x80));
    out.push_back(static_cast<char>(v));
  }
  return out + value;
}

void set_raw(onnx::TensorProto* t, const std::vector<float>& v) {
  t->clear_float_data();
  t->set_raw_data(v.data(), v.size() * sizeof(float));
}

// y = MatMul(x, big) + small, with `big` in raw_data (split out), `small` as float_data (kept), a
// Constant node holding a large tensor and an If whose branches have their own raw initializers
// (both kept: only the main graph's initializers are split).
struct MixedModel {
  std::vector<float> big = test::uniform(64 * 32, 1.0f, 1), small = test::uniform(32, 1.0f, 2),
                     constant = test::uniform(2048, 1.0f, 3), branch = test::uniform(1024 + 1, 1.0f, 4);
  ModelSpec spec;
  MixedModel() {
    spec.input("x", {1, 64});
    set_raw(spec.initializer("big", {64, 32}, {}), big);
    spec.initializer("small", {32}, small);
    auto* c = spec.node("Constant", {}, {"c"});
    auto* a = c->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
    a->mutable_t()->add_dims(static_cast<int64_t>(constant.size()));
    a->mutable_t()->set_raw_data(constant.data(), constant.size() * sizeof(float));
    spec.node("MatMul", {"x", "big"}, {"xw"});
    spec.node("Add", {"xw", "small"}, {"y"});
    spec.output("y", {1, 32});
    spec.output("c", {static_cast<int64_t>(constant.size())});
  }
};

std::vector<float> values(const Graph& g, const std::string& name) {
  const Tensor& t = g.initializers.at(name);
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

}  // namespace

TEST(InitializerData, SplitsOutLargeRawDataAndKeepsEverythingElse) {
  MixedModel m;
  const std::string bytes = m.spec.bytes();
  const auto split = split_initializer_data(read_from(bytes), bytes.size(), 4096);
  ASSERT_TRUE(split);
  ASSERT_EQ(split->raw_data.size(), 2u);
  ASSERT_TRUE(split->raw_data[0]);  // big: 8 KiB of raw_data
  EXPECT_FALSE(split->raw_data[1]);  // small: float_data
  EXPECT_EQ(split->raw_data[0]->size, m.big.size() * sizeof(float));
  EXPECT_EQ(std::memcmp(bytes.data() + split->raw_data[0]->offset, m.big.data(), split->raw_data[0]->size), 0);
  EXPECT_LT(split->skeleton.size() + split->raw_data[0]->size, bytes.size() + 16);

  // Putting the bytes back gives the original message.
  onnx::ModelProto skeleton;
  ASSERT_TRUE(skeleton.ParseFromString(split->skeleton));
  EXPECT_FALSE(skeleton.graph().initializer(0).has_raw_data());
  skeleton.mutable_graph()->mutable_initializer(0)->set_raw_data(bytes.substr(split->raw_data[0]->offset, split->raw_data[0]->size));
  EXPECT_EQ(skeleton.SerializeAsString(), m.spec.proto.SerializeAsString());
}

TEST(InitializerData, FileAndMemoryLoadsGiveTheWholeParseValues) {
  MixedModel m;
  const std::string bytes = m.spec.bytes();
  const fs::path path = fs::temp_directory_path() / ("edgerun_split_" + std::to_string(::getpid()) + ".onnx");
  std::ofstream(path, std::ios::binary) << bytes;
  for (const auto& model : {Model::load(path.string()), Model::load_from_memory(bytes.data(), bytes.size())}) {
    EXPECT_EQ(values(model->graph(), "big"), m.big);
    EXPECT_EQ(values(model->graph(), "small"), m.small);
    EXPECT_EQ(values(model->graph(), "c"), m.constant);
    Session s(model);
    Tensor x(DType::kFloat32, {1, 64});
    for (int i = 0; i < 64; ++i) x.data<float>()[i] = 0.01f * static_cast<float>(i - 32);
    const auto out = s.run({{"x", x}});
    for (int j = 0; j < 32; ++j) {
      double want = m.small[j];
      for (int i = 0; i < 64; ++i) want += static_cast<double>(x.data<float>()[i]) * m.big[i * 32 + j];
      EXPECT_NEAR(out[0].data<float>()[j], want, 1e-4) << j;
    }
  }
  fs::remove(path);
}

TEST(InitializerData, SubgraphInitializersStayInTheSkeleton) {
  MixedModel m;
  auto* branch_graph = m.spec.node("If", {"cond"}, {"z"})->add_attribute();
  branch_graph->set_name("then_branch");
  branch_graph->set_type(onnx::AttributeProto::GRAPH);
  auto* bg = branch_graph->mutable_g();
  auto* t = bg->add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(static_cast<int64_t>(m.branch.size()));
  set_raw(t, m.branch);
  const std::string bytes = m.spec.bytes();
  const auto split = split_initializer_data(read_from(bytes), bytes.size(), 4096);
  ASSERT_TRUE(split);
  EXPECT_EQ(split->raw_data.size(), 2u);  // the main graph's two, not the branch's
  onnx::ModelProto skeleton;
  ASSERT_TRUE(skeleton.ParseFromString(split->skeleton));
  const auto& kept = skeleton.graph().node(3).attribute(0).g().initializer(0).raw_data();
  EXPECT_EQ(kept, std::string(reinterpret_cast<const char*>(m.branch.data()), m.branch.size() * sizeof(float)));
}

TEST(InitializerData, WhatDoesNotSplitPlainlyIsLeftToTheWholeParse) {
  MixedModel m;
  const std::string good = m.spec.bytes();
  // A second graph field: protobuf merges the two graphs.
  onnx::ModelProto extra;
  auto* t = extra.mutable_graph()->add_initializer();
  t->set_name("more");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(2048);
  set_raw(t, test::uniform(2048, 1.0f, 9));
  const std::string merged = good + extra.SerializeAsString();
  EXPECT_FALSE(split_initializer_data(read_from(merged), merged.size(), 4096));
  const auto model = Model::load_from_memory(merged.data(), merged.size());
  EXPECT_EQ(values(model->graph(), "big"), m.big);  // both graphs' initializers, as protobuf merges them
  EXPECT_EQ(values(model->graph(), "more"), test::uniform(2048, 1.0f, 9));

  // raw_data given twice in one tensor (protobuf keeps the last one), built by hand.
  const std::string raw_field = field(9, std::string(8192, 'a'));
  const std::string twice = field(7, field(5, raw_field + field(9, std::string(8192, 'b'))));
  EXPECT_FALSE(split_initializer_data(read_from(twice), twice.size(), 4096));
  const std::string once = field(7, field(5, raw_field));
  EXPECT_TRUE(split_initializer_data(read_from(once), once.size(), 4096));

  // Every truncation fails to split (a length runs past the end) rather than splitting wrongly.
  for (size_t len = 1; len < good.size(); len += 7)
    EXPECT_FALSE(split_initializer_data(read_from(good), len, 4096)) << len;

  // A read error while splitting is a failed split, not a crash.
  const ReadAt failing = [](uint64_t, void*, size_t) { return false; };
  EXPECT_FALSE(split_initializer_data(failing, good.size(), 4096));
}

TEST(InitializerData, SplitOutDataOfTheWrongSizeIsRefused) {
  MixedModel m;
  m.spec.proto.mutable_graph()->mutable_initializer(0)->set_dims(1, 33);  // 64 x 33 needs 8448 bytes, 8192 given
  const std::string bytes = m.spec.bytes();
  ASSERT_TRUE(split_initializer_data(read_from(bytes), bytes.size(), 4096));
  try {
    Model::load_from_memory(bytes.data(), bytes.size());
    FAIL() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has 8192 bytes of data"), std::string::npos) << e.what();
  }
}

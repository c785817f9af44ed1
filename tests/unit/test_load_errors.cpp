// Bad model files and bad inputs give clear errors, never crashes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "edgerun/edgerun.h"
#include "model_builder.h"

using namespace edgerun;
using edgerun::test::ModelSpec;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::function<void()>& fn, ErrorCode* code = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

ModelSpec identity_model() {
  ModelSpec m;
  m.input("x", {-1, 3});
  m.node("Identity", {"x"}, {"y"}, "copy");
  m.output("y", {-1, 3});
  return m;
}

std::shared_ptr<Model> load(const std::string& bytes) { return Model::load_from_memory(bytes.data(), bytes.size()); }

}  // namespace

TEST(LoadErrors, EmptyFile) {
  ErrorCode code{};
  const std::string msg = error_of([] { load(""); }, &code);
  EXPECT_EQ(code, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
}

TEST(LoadErrors, EveryTruncationIsRejectedOrValid) {
  const std::string full = identity_model().bytes();
  for (size_t len = 1; len < full.size(); ++len) {
    const std::string cut = full.substr(0, len);
    try {
      auto m = load(cut);
      // A prefix can still be a valid protobuf; it must then be a consistent model.
      Session s(m);
    } catch (const Error& e) {
      EXPECT_FALSE(std::string(e.what()).empty());
    }
  }
}

TEST(LoadErrors, NotAnOnnxFile) {
  ErrorCode code{};
  const std::string msg = error_of([] { load("this is plain text, not a protobuf\n"); }, &code);
  EXPECT_EQ(code, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("not a valid ONNX model"), std::string::npos) << msg;
}

TEST(LoadErrors, MissingFileIsIoError) {
  ErrorCode code{};
  error_of([] { Model::load("/nonexistent/model.onnx"); }, &code);
  EXPECT_EQ(code, ErrorCode::kIo);
}

TEST(LoadErrors, UnsupportedOpNamesOpAndNode) {
  ModelSpec m;
  m.input("x", {2});
  m.node("FrobnicateTensor", {"x"}, {"y"}, "frob1");
  m.output("y", {2});
  ErrorCode code{};
  const std::string msg = error_of([&] { Session s(load(m.bytes())); }, &code);
  EXPECT_EQ(code, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("FrobnicateTensor"), std::string::npos) << msg;
  EXPECT_NE(msg.find("frob1"), std::string::npos) << msg;
}

TEST(LoadErrors, DanglingEdge) {
  ModelSpec m;
  m.input("x", {2});
  m.node("Identity", {"nowhere"}, {"y"}, "reader");
  m.output("y", {2});
  const std::string msg = error_of([&] { load(m.bytes()); });
  EXPECT_NE(msg.find("nowhere"), std::string::npos) << msg;
  EXPECT_NE(msg.find("reader"), std::string::npos) << msg;
}

TEST(LoadErrors, Cycle) {
  ModelSpec m;
  m.input("x", {2});
  m.node("Identity", {"b"}, {"a"}, "first");
  m.node("Identity", {"a"}, {"b"}, "second");
  m.output("b", {2});
  const std::string msg = error_of([&] { load(m.bytes()); });
  EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
}

TEST(LoadErrors, DuplicateProducer) {
  ModelSpec m;
  m.input("x", {2});
  m.node("Identity", {"x"}, {"y"}, "one");
  m.node("Identity", {"x"}, {"y"}, "two");
  m.output("y", {2});
  const std::string msg = error_of([&] { load(m.bytes()); });
  EXPECT_NE(msg.find("more than once"), std::string::npos) << msg;
}

// A node writing a value that is also a graph input (a fuzzed file wrote 2100 float16 values over a
// 60-float input this way).
TEST(LoadErrors, NodeOutputNamedLikeAGraphInput) {
  ModelSpec m;
  m.input("x", {35, 12});
  m.input("y", {3});
  m.node("Selu", {"x"}, {"y"}, "selu");
  m.output("y", {3});
  const std::string msg = error_of([&] { load(m.bytes()); });
  EXPECT_NE(msg.find("also a graph input"), std::string::npos) << msg;
}

TEST(LoadErrors, InitializerWithWrongDataSize) {
  ModelSpec m;
  m.initializer("w", {2, 2}, {1, 2, 3});  // 3 values for 4 elements
  m.node("Identity", {"w"}, {"y"});
  m.output("y", {2, 2});
  const std::string msg = error_of([&] { load(m.bytes()); });
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
}

TEST(LoadErrors, OverflowingDimensions) {
  ModelSpec m;
  auto* t = m.initializer("huge", {}, {});
  t->add_dims(int64_t{1} << 40);
  t->add_dims(int64_t{1} << 40);
  m.node("Identity", {"huge"}, {"y"});
  m.output("y", {});
  const std::string msg = error_of([&] { load(m.bytes()); });
  EXPECT_NE(msg.find("overflow"), std::string::npos) << msg;
}

TEST(LoadErrors, ExternalDataMayNotEscapeModelFolder) {
  ModelSpec m;
  auto* t = m.proto.mutable_graph()->add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(4);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* e = t->add_external_data();
  e->set_key("location");
  e->set_value("../../etc/passwd");
  m.node("Identity", {"w"}, {"y"});
  m.output("y", {4});
  const fs::path dir = fs::temp_directory_path() / "edgerun_ext_test";
  fs::create_directories(dir);
  const std::string bytes = m.bytes();
  const std::string msg = error_of([&] { Model::load_from_memory(bytes.data(), bytes.size(), dir.string()); });
  EXPECT_NE(msg.find("escapes"), std::string::npos) << msg;
}

TEST(LoadErrors, ExternalDataIsRead) {
  const fs::path dir = fs::temp_directory_path() / "edgerun_ext_ok";
  fs::create_directories(dir);
  const float values[4] = {1.5f, -2.0f, 3.25f, 4.0f};
  {
    std::ofstream out(dir / "weights.bin", std::ios::binary);
    const char pad[8] = {};
    out.write(pad, 8);
    out.write(reinterpret_cast<const char*>(values), sizeof values);
  }
  ModelSpec m;
  auto* t = m.proto.mutable_graph()->add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(4);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* e = t->add_external_data();
  e->set_key("location");
  e->set_value("weights.bin");
  e = t->add_external_data();
  e->set_key("offset");
  e->set_value("8");
  m.node("Identity", {"w"}, {"y"});
  m.output("y", {4});
  {
    std::ofstream out(dir / "model.onnx", std::ios::binary);
    out << m.bytes();
  }
  Session s(Model::load((dir / "model.onnx").string()));
  auto out = s.run({});
  ASSERT_EQ(out.size(), 1u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[0].data<float>()[i], values[i]);
}

TEST(InputErrors, WrongNameShapeDtypeMissing) {
  auto model = load(identity_model().bytes());
  Session s(model);
  Tensor good(DType::kFloat32, {5, 3});
  EXPECT_EQ(s.run({{"x", good}})[0].shape(), (Shape{5, 3}));  // symbolic batch accepts 5

  std::string msg = error_of([&] { s.run({{"x", good}, {"bogus", good}}); });
  EXPECT_NE(msg.find("bogus"), std::string::npos) << msg;

  msg = error_of([&] { s.run({{"x", Tensor(DType::kFloat32, {5, 4})}}); });
  EXPECT_NE(msg.find("shape"), std::string::npos) << msg;

  msg = error_of([&] { s.run({{"x", Tensor(DType::kInt64, {5, 3})}}); });
  EXPECT_NE(msg.find("dtype"), std::string::npos) << msg;

  msg = error_of([&] { s.run({}); });
  EXPECT_NE(msg.find("missing input 'x'"), std::string::npos) << msg;
}

TEST(Planning, StaticModelIsPlannedAtLoadAndReusesBuffers) {
  ModelSpec m;
  m.input("x", {1, 1024});
  m.node("Identity", {"x"}, {"a"});
  m.node("Identity", {"a"}, {"b"});
  m.node("Identity", {"b"}, {"c"});
  m.node("Identity", {"c"}, {"d"});
  m.output("d", {1, 1024});
  SessionOptions plain;
  plain.optimize = false;  // keep the Identity nodes: this is about the memory plan
  Session s(load(m.bytes()), plain);
  const PlanStats& st = s.stats();
  EXPECT_TRUE(st.static_plan);
  EXPECT_EQ(st.unplanned_bytes, 4u * 4096u);
  // a/b/c/d live pairwise: two buffers suffice except d, kept to the end.
  EXPECT_LE(st.arena_bytes, 3u * 4096u);
  Tensor x(DType::kFloat32, {1, 1024});
  for (int i = 0; i < 1024; ++i) x.data<float>()[i] = static_cast<float>(i);
  auto out = s.run({{"x", x}});
  for (int i = 0; i < 1024; ++i) ASSERT_EQ(out[0].data<float>()[i], static_cast<float>(i));
}

TEST(Planning, ReplansWhenInputShapeChanges) {
  auto model = load(identity_model().bytes());
  Session s(model);
  for (int64_t n : {1, 7, 2}) {
    Tensor x(DType::kFloat32, {n, 3});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i * n);
    auto out = s.run({{"x", x}});
    ASSERT_EQ(out[0].shape(), (Shape{n, 3}));
    EXPECT_TRUE(s.stats().static_plan);
    for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(out[0].data<float>()[i], static_cast<float>(i * n));
  }
}

// A model whose declared sizes ask for gigabytes (a pad of 8388607) fails to plan with an Error under
// SessionOptions::max_plan_bytes instead of allocating them; a reasonable model plans under the same limit.
TEST(LoadErrors, PlanOverTheMemoryLimitIsRefused) {
  ModelSpec m;
  m.input("x", {1, 3, 28, 1});
  auto* pool = m.node("MaxPool", {"x"}, {"y"});
  for (const auto& [name, values] : {std::pair<const char*, std::vector<int64_t>>{"kernel_shape", {3, 3}},
                                     {"pads", {64, 11, 3, 8388607}}}) {
    auto* a = pool->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) a->add_ints(v);
  }
  m.output("y", {});
  const std::string bytes = m.bytes();
  auto model = Model::load_from_memory(bytes.data(), bytes.size());
  SessionOptions options;
  options.max_plan_bytes = 16u << 20;
  ErrorCode code{};
  const std::string message = error_of([&] { Session s(model, options); }, &code);
  EXPECT_NE(message.find("max_plan_bytes"), std::string::npos) << message;
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);

  const std::string small = identity_model().bytes();
  Session fine(Model::load_from_memory(small.data(), small.size()), options);
  Tensor x(DType::kFloat32, {2, 3});
  EXPECT_EQ(fine.run({{"x", x}}).at(0).shape(), (Shape{2, 3}));
}

// An initializer declaring 10^10 values but holding two is refused before anything is allocated.
TEST(LoadErrors, InitializerShapeLargerThanItsValues) {
  ModelSpec m = identity_model();
  auto* t = m.proto.mutable_graph()->add_initializer();
  t->set_name("huge");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(100000);
  t->add_dims(100000);
  t->add_float_data(1.f);
  t->add_float_data(2.f);
  const std::string bytes = m.bytes();
  ErrorCode code{};
  const std::string message = error_of([&] { Model::load_from_memory(bytes.data(), bytes.size()); }, &code);
  EXPECT_NE(message.find("holds 2 values"), std::string::npos) << message;
  EXPECT_EQ(code, ErrorCode::kInvalidModel);
}

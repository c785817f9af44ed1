// The request parser on its own: JSON and binary tensors, every datatype check, and refusals.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "serve/infer_request.h"
#include "serve/infer_response.h"

using namespace edgerun;
using namespace edgerun::serve;
using nlohmann::json;

namespace {

ModelSignature image_signature(int64_t max_batch = 8) {
  ModelSignature s;
  s.inputs.push_back({"input", DType::kFloat32, {-1, 1, 2, 2}, true});
  s.outputs.push_back({"logits", DType::kFloat32, {-1, 3}, true});
  s.outputs.push_back({"probs", DType::kFloat32, {-1, 3}, true});
  s.max_batch_size = max_batch;
  return s;
}

int status_of(const std::string& body, const ModelSignature& sig, std::optional<size_t> hl = std::nullopt) {
  try {
    parse_infer_request(body, hl, sig);
    return 200;
  } catch (const RequestError& e) {
    return e.status();
  }
}

std::string message_of(const std::string& body, const ModelSignature& sig, std::optional<size_t> hl = std::nullopt) {
  try {
    parse_infer_request(body, hl, sig);
    return "";
  } catch (const RequestError& e) {
    return e.what();
  }
}

}  // namespace

TEST(InferRequest, FlatAndNestedJsonData) {
  const auto sig = image_signature();
  const auto flat = parse_infer_request(
      R"({"id":"r1","inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3.5,4]}]})", std::nullopt, sig);
  ASSERT_EQ(flat.inputs.size(), 1u);
  EXPECT_EQ(flat.inputs[0].shape(), (Shape{1, 1, 2, 2}));
  EXPECT_FLOAT_EQ(flat.inputs[0].data<float>()[2], 3.5f);
  EXPECT_EQ(flat.id, "r1");
  EXPECT_EQ(flat.batch_size, 1);
  ASSERT_EQ(flat.outputs.size(), 2u);
  EXPECT_FALSE(flat.outputs[0].binary);
  const auto nested = parse_infer_request(
      R"({"inputs":[{"name":"input","shape":[2,1,2,2],"datatype":"FP32","data":[[[[1,2],[3,4]]],[[[5,6],[7,8]]]]}]})",
      std::nullopt, sig);
  EXPECT_FLOAT_EQ(nested.inputs[0].data<float>()[7], 8.0f);
  EXPECT_EQ(nested.batch_size, 2);
  EXPECT_FALSE(nested.has_id);
}

TEST(InferRequest, BinaryInputAndOutputSelection) {
  const auto sig = image_signature();
  const float values[4] = {1, 2, 3, 4};
  std::string body =
      R"({"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","parameters":{"binary_data_size":16}}],)"
      R"("outputs":[{"name":"probs","parameters":{"binary_data":true}}]})";
  const size_t hl = body.size();
  body.append(reinterpret_cast<const char*>(values), 16);
  const auto r = parse_infer_request(body, hl, sig);
  EXPECT_FLOAT_EQ(r.inputs[0].data<float>()[3], 4.0f);
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].index, 1u);
  EXPECT_TRUE(r.outputs[0].binary);
  // binary_data_output applies to every output when none are named.
  std::string all = R"({"parameters":{"binary_data_output":true},"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3,4]}]})";
  const auto r2 = parse_infer_request(all, std::nullopt, sig);
  ASSERT_EQ(r2.outputs.size(), 2u);
  EXPECT_TRUE(r2.outputs[0].binary && r2.outputs[1].binary);
}

TEST(InferRequest, RefusesBadRequestsWith400) {
  const auto sig = image_signature(2);
  const std::string ok_input = R"("name":"input","shape":[1,1,2,2],"datatype":"FP32")";
  EXPECT_EQ(status_of("{not json", sig), 400);
  EXPECT_EQ(status_of("[1,2]", sig), 400);
  EXPECT_EQ(status_of("{}", sig), 400);
  EXPECT_EQ(status_of(R"({"inputs":[{)" + ok_input + R"(,"data":[1,2,3]}]})", sig), 400);            // 3 != 4
  EXPECT_EQ(status_of(R"({"inputs":[{)" + ok_input + R"(,"data":[1,2,3,4,5]}]})", sig), 400);        // 5 != 4
  EXPECT_EQ(status_of(R"({"inputs":[{)" + ok_input + R"(,"data":[1,2,3,"x"]}]})", sig), 400);        // type
  EXPECT_EQ(status_of(R"({"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP64","data":[1,2,3,4]}]})", sig), 400);
  EXPECT_EQ(status_of(R"({"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"XX","data":[1,2,3,4]}]})", sig), 400);
  EXPECT_EQ(status_of(R"({"inputs":[{"name":"input","shape":[1,2,2,1],"datatype":"FP32","data":[1,2,3,4]}]})", sig), 400);
  EXPECT_EQ(status_of(R"({"inputs":[{"name":"input","shape":[3,1,2,2],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10,11,12]}]})", sig), 400);  // > max_batch_size
  EXPECT_EQ(status_of(R"({"inputs":[{"name":"input","shape":[1,1,2,-2],"datatype":"FP32","data":[1]}]})", sig), 400);
  EXPECT_EQ(status_of(R"({"inputs":[{"name":"other","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3,4]}]})", sig), 400);
  EXPECT_EQ(status_of(R"({"inputs":[]})", sig), 400);  // missing input
  EXPECT_EQ(status_of(R"({"inputs":[{)" + ok_input + R"(,"data":[1,2,3,4]},{)" + ok_input + R"(,"data":[1,2,3,4]}]})", sig), 400);
  EXPECT_EQ(status_of(R"({"id":5,"inputs":[{)" + ok_input + R"(,"data":[1,2,3,4]}]})", sig), 400);
  EXPECT_EQ(status_of(R"({"inputs":[{)" + ok_input + R"(,"data":[1,2,3,4]}],"outputs":[{"name":"nope"}]})", sig), 400);
  EXPECT_EQ(status_of(R"({"inputs":[{)" + ok_input + R"(,"data":[1,2,3,4]}],"parameters":{"timeout":-1}})", sig), 400);
  // A huge shape with a tiny body is refused before anything is allocated.
  EXPECT_EQ(status_of(R"({"inputs":[{"name":"input","shape":[1,1,2,4611686018427387904],"datatype":"FP32","data":[1]}]})",
                      image_signature(0)), 400);
  EXPECT_NE(message_of(R"({"inputs":[{)" + ok_input + R"(,"data":[1,2,3]}]})", sig).find("needs 4"), std::string::npos);
}

TEST(InferRequest, BinaryLengthMismatches) {
  const auto sig = image_signature();
  const std::string head = R"({"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","parameters":{"binary_data_size":16}}]})";
  EXPECT_EQ(status_of(head + std::string(16, '\0'), sig, head.size()), 200);
  EXPECT_EQ(status_of(head + std::string(12, '\0'), sig, head.size()), 400);    // too few bytes
  EXPECT_EQ(status_of(head + std::string(20, '\0'), sig, head.size()), 400);    // unused bytes
  EXPECT_EQ(status_of(head + std::string(16, '\0'), sig, head.size() + 100), 400);  // header length > body
  EXPECT_EQ(status_of(head + std::string(16, '\0'), sig, head.size() - 1), 400);    // cuts the JSON
  EXPECT_EQ(status_of(head + std::string(16, '\0'), sig), 400);                     // no header length
  const std::string wrong_size = R"({"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","parameters":{"binary_data_size":8}}]})";
  EXPECT_EQ(status_of(wrong_size + std::string(8, '\0'), sig, wrong_size.size()), 400);
  EXPECT_THROW(parse_header_length("12a"), RequestError);
  EXPECT_THROW(parse_header_length(""), RequestError);
  EXPECT_THROW(parse_header_length("-1"), RequestError);
  EXPECT_EQ(parse_header_length("42"), 42u);
}

TEST(InferRequest, EveryDatatypeFromJson) {
  ModelSignature sig;
  sig.inputs = {{"i8", DType::kInt8, {2}, true},    {"u8", DType::kUInt8, {2}, true},     {"i16", DType::kInt16, {2}, true},
                {"u16", DType::kUInt16, {2}, true}, {"i32", DType::kInt32, {2}, true},    {"u32", DType::kUInt32, {2}, true},
                {"i64", DType::kInt64, {2}, true},  {"u64", DType::kUInt64, {2}, true},   {"b", DType::kBool, {2}, true},
                {"f16", DType::kFloat16, {2}, true}, {"bf16", DType::kBFloat16, {2}, true}, {"f64", DType::kFloat64, {2}, true},
                {"s", DType::kString, {2}, true}};
  sig.outputs = {{"o", DType::kFloat32, {2}, true}};
  const json body = {{"inputs",
                      {{{"name", "i8"}, {"shape", {2}}, {"datatype", "INT8"}, {"data", {-128, 127}}},
                       {{"name", "u8"}, {"shape", {2}}, {"datatype", "UINT8"}, {"data", {0, 255}}},
                       {{"name", "i16"}, {"shape", {2}}, {"datatype", "INT16"}, {"data", {-32768, 32767}}},
                       {{"name", "u16"}, {"shape", {2}}, {"datatype", "UINT16"}, {"data", {0, 65535}}},
                       {{"name", "i32"}, {"shape", {2}}, {"datatype", "INT32"}, {"data", {-5, 7}}},
                       {{"name", "u32"}, {"shape", {2}}, {"datatype", "UINT32"}, {"data", {0, 4294967295u}}},
                       {{"name", "i64"}, {"shape", {2}}, {"datatype", "INT64"}, {"data", {INT64_MIN, INT64_MAX}}},
                       {{"name", "u64"}, {"shape", {2}}, {"datatype", "UINT64"}, {"data", {0, UINT64_MAX}}},
                       {{"name", "b"}, {"shape", {2}}, {"datatype", "BOOL"}, {"data", {true, false}}},
                       {{"name", "f16"}, {"shape", {2}}, {"datatype", "FP16"}, {"data", {1.5, -2}}},
                       {{"name", "bf16"}, {"shape", {2}}, {"datatype", "BF16"}, {"data", {0.5, 3}}},
                       {{"name", "f64"}, {"shape", {2}}, {"datatype", "FP64"}, {"data", {0.1, 1e300}}},
                       {{"name", "s"}, {"shape", {2}}, {"datatype", "BYTES"}, {"data", {"ab", ""}}}}}};
  const auto r = parse_infer_request(body.dump(), std::nullopt, sig);
  EXPECT_EQ(r.inputs[0].data<int8_t>()[0], -128);
  EXPECT_EQ(r.inputs[7].data<uint64_t>()[1], UINT64_MAX);
  EXPECT_TRUE(r.inputs[8].data<bool>()[0]);
  EXPECT_FLOAT_EQ(half_to_float(r.inputs[9].data<uint16_t>()[0]), 1.5f);
  EXPECT_FLOAT_EQ(bfloat16_to_float(r.inputs[10].data<uint16_t>()[1]), 3.0f);
  EXPECT_DOUBLE_EQ(r.inputs[11].data<double>()[1], 1e300);
  EXPECT_EQ(r.inputs[12].data<std::string>()[0], "ab");
  // Out of range, wrong kind.
  auto with = [&](const std::string& name, const json& data) {
    json b = body;
    for (auto& in : b["inputs"])
      if (in["name"] == name) in["data"] = data;
    return status_of(b.dump(), sig);
  };
  EXPECT_EQ(with("i8", {-129, 0}), 400);
  EXPECT_EQ(with("u8", {256, 0}), 400);
  EXPECT_EQ(with("u8", {-1, 0}), 400);
  EXPECT_EQ(with("u32", {4294967296u, 0}), 400);
  EXPECT_EQ(with("i64", {1.5, 0}), 400);
  EXPECT_EQ(with("b", {1, 0}), 400);
  EXPECT_EQ(with("f16", {true, 0}), 400);
  EXPECT_EQ(with("s", {1, 2}), 400);
}

TEST(InferRequest, BinaryBoolIsNormalisedAndBytesAreLengthPrefixed) {
  ModelSignature sig;
  sig.inputs = {{"b", DType::kBool, {3}, true}, {"s", DType::kString, {2}, true}};
  sig.outputs = {{"o", DType::kBool, {3}, true}};
  std::string head = R"({"inputs":[{"name":"b","shape":[3],"datatype":"BOOL","parameters":{"binary_data_size":3}},)"
                     R"({"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}}]})";
  std::string body = head + std::string("\x00\x07\x01", 3) + std::string("\x03\x00\x00\x00" "abc" "\x00\x00\x00\x00", 11);
  const auto r = parse_infer_request(body, head.size(), sig);
  const auto* b = static_cast<const uint8_t*>(r.inputs[0].raw());
  EXPECT_EQ(b[0], 0);
  EXPECT_EQ(b[1], 1);
  EXPECT_EQ(r.inputs[1].data<std::string>()[0], "abc");
  EXPECT_EQ(r.inputs[1].data<std::string>()[1], "");
  // A length prefix that runs past the data.
  std::string bad = head + std::string("\x00\x00\x01", 3) + std::string("\xff\x00\x00\x00" "abc" "\x00\x00\x00\x00", 11);
  EXPECT_EQ(status_of(bad, sig, head.size()), 400);
}

TEST(InferRequest, DeeplyNestedDataDoesNotOverflowTheStack) {
  const auto sig = image_signature(0);
  std::string deep = R"({"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":)";
  deep += std::string(100000, '[') + "1" + std::string(100000, ']') + "}]}";
  EXPECT_EQ(status_of(deep, sig), 400);
}

TEST(InferResponse, JsonAndBinaryOutputs) {
  const auto sig = image_signature();
  InferRequest req;
  req.id = "x\"y";
  req.has_id = true;
  req.outputs = {{1, true}, {0, false}};
  Tensor a(DType::kFloat32, {1, 3}), b(DType::kFloat32, {1, 3});
  for (int i = 0; i < 3; ++i) {
    a.data<float>()[i] = static_cast<float>(i);
    b.data<float>()[i] = static_cast<float>(10 + i);
  }
  const auto enc = encode_infer_response("m", "2", req, sig, {a, b});
  ASSERT_TRUE(enc.has_binary);
  const json head = json::parse(enc.body.substr(0, enc.json_length));
  EXPECT_EQ(head["id"], "x\"y");
  EXPECT_EQ(head["model_version"], "2");
  EXPECT_EQ(head["outputs"][0]["name"], "probs");
  EXPECT_EQ(head["outputs"][0]["parameters"]["binary_data_size"], 12);
  EXPECT_EQ(head["outputs"][1]["data"], json({0.0, 1.0, 2.0}));
  ASSERT_EQ(enc.body.size(), enc.json_length + 12);
  float tail[3];
  std::memcpy(tail, enc.body.data() + enc.json_length, 12);
  EXPECT_FLOAT_EQ(tail[2], 12.0f);
  EXPECT_EQ(json::parse(error_json("bad \"thing\"\n"))["error"], "bad \"thing\"\n");
}

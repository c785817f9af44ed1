// The real server on 127.0.0.1: every endpoint's protocol shape, and JSON / binary inference checked
// against the Session API run directly on the same inputs.
#include <thread>

#include "serve_test_util.h"

using namespace edgerun::serve::test;

namespace {

class ServeApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    add_version(dir_->path(), "fmnist", 1, fashion_model_path());
    write_file(dir_->path() / "fmnist" / "config.json",
               R"({"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 20000}, "instance_count": 1})");
    add_version(dir_->path(), "plain", 1, fashion_model_path());  // no config: no batching
    write_file(dir_->path() / "types" / "1" / "model.onnx", types_model());
    server_ = new RunningServer(dir_->path());
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  static uint16_t port() { return server_->port; }
  static TempDir* dir_;
  static RunningServer* server_;
};
TempDir* ServeApi::dir_ = nullptr;
RunningServer* ServeApi::server_ = nullptr;

std::vector<float> floats_of(const json& data) { return data.get<std::vector<float>>(); }

}  // namespace

TEST_F(ServeApi, HealthAndServerMetadata) {
  EXPECT_EQ(http(port(), "GET", "/v2/health/live").status, 200);
  EXPECT_EQ(http(port(), "GET", "/v2/health/ready").status, 200);
  const auto meta = http(port(), "GET", "/v2");
  ASSERT_EQ(meta.status, 200);
  const json j = meta.body_json();
  EXPECT_EQ(j["name"], "edgerun");
  EXPECT_TRUE(j["version"].is_string());
  EXPECT_NE(std::find(j["extensions"].begin(), j["extensions"].end(), "binary_tensor_data"), j["extensions"].end());
  EXPECT_EQ(http(port(), "GET", "/v2/nothing").status, 404);
  EXPECT_EQ(http(port(), "POST", "/v2/health/live").status, 405);
}

TEST_F(ServeApi, ModelMetadataAndReadiness) {
  for (const std::string path : {"/v2/models/fmnist", "/v2/models/fmnist/versions/1"}) {
    const auto r = http(port(), "GET", path);
    ASSERT_EQ(r.status, 200) << r.body;
    const json j = r.body_json();
    EXPECT_EQ(j["name"], "fmnist");
    EXPECT_EQ(j["platform"], "onnx");
    EXPECT_EQ(j["versions"], json({"1"}));
    EXPECT_EQ(j["inputs"][0], json({{"name", "input"}, {"datatype", "FP32"}, {"shape", {-1, 1, 28, 28}}}));
    EXPECT_EQ(j["outputs"][0], json({{"name", "logits"}, {"datatype", "FP32"}, {"shape", {-1, 10}}}));
  }
  const json types = http(port(), "GET", "/v2/models/types").body_json();
  std::vector<std::string> datatypes;
  for (const auto& in : types["inputs"]) datatypes.push_back(in["datatype"]);
  EXPECT_EQ(datatypes, (std::vector<std::string>{"INT64", "BOOL", "UINT8", "FP16", "FP32", "INT8"}));
  EXPECT_EQ(http(port(), "GET", "/v2/models/fmnist/ready").status, 200);
  EXPECT_EQ(http(port(), "GET", "/v2/models/fmnist/versions/1/ready").status, 200);
  EXPECT_EQ(http(port(), "GET", "/v2/models/fmnist/versions/7/ready").status, 404);
  EXPECT_EQ(http(port(), "GET", "/v2/models/nope/ready").status, 404);
  const auto unknown = http(port(), "GET", "/v2/models/nope");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_TRUE(unknown.body_json()["error"].is_string());
  EXPECT_EQ(http(port(), "GET", "/v2/models/fmnist/versions/9").status, 404);
  EXPECT_EQ(http(port(), "GET", "/v2/models/fmnist/versions/x1").status, 400);
}

TEST_F(ServeApi, JsonInferenceMatchesTheSessionApi) {
  for (int64_t n : {1, 3}) {
    const auto images = image_batch(n, static_cast<uint32_t>(n));
    const auto expected = reference_logits(images, n);
    for (const std::string model : {"fmnist", "plain"}) {
      const auto r = http(port(), "POST", "/v2/models/" + model + "/infer", json_infer_body(images, n, {{"id", "req-7"}}));
      ASSERT_EQ(r.status, 200) << r.body;
      const json j = r.body_json();
      EXPECT_EQ(j["id"], "req-7");
      EXPECT_EQ(j["model_name"], model);
      EXPECT_EQ(j["model_version"], "1");
      EXPECT_EQ(j["outputs"][0]["name"], "logits");
      EXPECT_EQ(j["outputs"][0]["datatype"], "FP32");
      EXPECT_EQ(j["outputs"][0]["shape"], json({n, 10}));
      EXPECT_LE(max_abs_diff(floats_of(j["outputs"][0]["data"]), expected), 1e-5);
    }
  }
  // Nested data and an explicit version.
  const auto images = image_batch(2, 11);
  json nested = json::array();
  for (int b = 0; b < 2; ++b) {
    json rows = json::array();
    for (int y = 0; y < 28; ++y)
      rows.push_back(std::vector<float>(images.begin() + b * 784 + y * 28, images.begin() + b * 784 + y * 28 + 28));
    nested.push_back(json::array({rows}));
  }
  const json body = {{"inputs", {{{"name", "input"}, {"shape", {2, 1, 28, 28}}, {"datatype", "FP32"}, {"data", nested}}}},
                     {"outputs", {{{"name", "logits"}}}}};
  const auto r = http(port(), "POST", "/v2/models/fmnist/versions/1/infer", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_LE(max_abs_diff(floats_of(r.body_json()["outputs"][0]["data"]), reference_logits(images, 2)), 1e-5);
}

TEST_F(ServeApi, BinaryInferenceBothWays) {
  const int64_t n = 4;
  const auto images = image_batch(n, 5);
  const auto expected = reference_logits(images, n);
  for (bool binary_out : {false, true}) {
    const auto [body, hl] = binary_infer_body(images, n, binary_out);
    const auto r = http(port(), "POST", "/v2/models/fmnist/infer", body,
                        {{"Inference-Header-Content-Length", std::to_string(hl)}, {"Content-Type", "application/octet-stream"}});
    ASSERT_EQ(r.status, 200) << r.body;
    if (!binary_out) {
      EXPECT_EQ(r.header("inference-header-content-length"), "");
      EXPECT_LE(max_abs_diff(floats_of(r.body_json()["outputs"][0]["data"]), expected), 1e-5);
      continue;
    }
    const size_t json_len = std::stoul(r.header("inference-header-content-length"));
    const json head = json::parse(r.body.substr(0, json_len));
    EXPECT_EQ(head["outputs"][0]["parameters"]["binary_data_size"], n * 10 * 4);
    EXPECT_FALSE(head["outputs"][0].contains("data"));
    ASSERT_EQ(r.body.size(), json_len + n * 10 * 4);
    std::vector<float> got(static_cast<size_t>(n * 10));
    std::memcpy(got.data(), r.body.data() + json_len, got.size() * 4);
    EXPECT_LE(max_abs_diff(got, expected), 1e-5);
  }
  // JSON input, binary output chosen per output.
  const json body = {{"inputs", {{{"name", "input"}, {"shape", {1, 1, 28, 28}}, {"datatype", "FP32"}, {"data", image_batch(1, 9)}}}},
                     {"outputs", {{{"name", "logits"}, {"parameters", {{"binary_data", true}}}}}}};
  const auto r = http(port(), "POST", "/v2/models/fmnist/infer", body.dump());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(std::stoul(r.header("inference-header-content-length")) + 40, r.body.size());
}

TEST_F(ServeApi, DatatypesRoundTrip) {
  const json body = {{"inputs",
                      {{{"name", "i64"}, {"shape", {1, 3}}, {"datatype", "INT64"}, {"data", {-1, 0, 9007199254740993}}},
                       {{"name", "b"}, {"shape", {1, 3}}, {"datatype", "BOOL"}, {"data", {true, false, true}}},
                       {{"name", "u8"}, {"shape", {1, 3}}, {"datatype", "UINT8"}, {"data", {0, 128, 255}}},
                       {{"name", "f16"}, {"shape", {1, 3}}, {"datatype", "FP16"}, {"data", {0.5, -1.25, 65504}}},
                       {{"name", "f32"}, {"shape", {1, 3}}, {"datatype", "FP32"}, {"data", {1e-3, 2, 3}}},
                       {{"name", "i8"}, {"shape", {1, 3}}, {"datatype", "INT8"}, {"data", {-128, 0, 127}}}}}};
  const auto r = http(port(), "POST", "/v2/models/types/infer", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json out = r.body_json()["outputs"];
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[0]["datatype"], "INT64");
  EXPECT_EQ(out[0]["data"], json({-1, 0, 9007199254740993}));
  EXPECT_EQ(out[1]["data"], json({true, false, true}));
  EXPECT_EQ(out[2]["data"], json({0, 128, 255}));
  EXPECT_EQ(out[3]["datatype"], "FP16");
  EXPECT_EQ(out[3]["data"], json({0.5, -1.25, 65504.0}));
  EXPECT_EQ(out[5]["data"], json({-128, 0, 127}));
  json bad = body;
  bad["inputs"][2]["data"] = {0, 1, 256};
  EXPECT_EQ(http(port(), "POST", "/v2/models/types/infer", bad.dump()).status, 400);
}

TEST_F(ServeApi, ConcurrentRequestsAreBatchedAndEachGetsItsSlice) {
  const auto before = http(port(), "GET", "/metrics").body;
  const std::string labels = "{model=\"fmnist\",version=\"1\"}";
  const double inf0 = metric_value(before, "edgerun_inference_count" + labels);
  const double exec0 = metric_value(before, "edgerun_inference_exec_count" + labels);
  constexpr int kClients = 8;
  std::vector<int> ok(kClients, 0);
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c)
    threads.emplace_back([&ok, c] {
      Client client(port());
      for (int i = 0; i < 3; ++i) {
        const auto images = image_batch(1, static_cast<uint32_t>(100 + c * 10 + i));
        const auto r = client.request("POST", "/v2/models/fmnist/infer", json_infer_body(images, 1));
        if (r.status != 200) continue;
        const auto got = r.body_json()["outputs"][0]["data"].get<std::vector<float>>();
        if (max_abs_diff(got, reference_logits(images, 1)) <= 1e-5) ++ok[c];
      }
    });
  for (auto& t : threads) t.join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(ok[c], 3) << "client " << c;
  const auto after = http(port(), "GET", "/metrics").body;
  const double inferences = metric_value(after, "edgerun_inference_count" + labels) - inf0;
  const double executions = metric_value(after, "edgerun_inference_exec_count" + labels) - exec0;
  EXPECT_EQ(inferences, kClients * 3);
  EXPECT_LT(executions, inferences) << "8 concurrent clients and a 20 ms queue delay should form batches";
}

TEST_F(ServeApi, MetricsInPrometheusFormat) {
  ASSERT_EQ(http(port(), "POST", "/v2/models/plain/infer", json_infer_body(image_batch(1, 1), 1)).status, 200);
  ASSERT_EQ(http(port(), "POST", "/v2/models/plain/infer", "{bad").status, 400);
  const auto r = http(port(), "GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.header("content-type").find("text/plain; version=0.0.4"), std::string::npos);
  const std::string labels = "{model=\"plain\",version=\"1\"}";
  EXPECT_GE(metric_value(r.body, "edgerun_inference_request_success" + labels), 1);
  EXPECT_GE(metric_value(r.body, "edgerun_inference_request_failure" + labels), 1);
  EXPECT_GE(metric_value(r.body, "edgerun_inference_count" + labels), 1);
  EXPECT_GE(metric_value(r.body, "edgerun_inference_exec_count" + labels), 1);
  EXPECT_EQ(metric_value(r.body, "edgerun_model_ready" + labels), 1);
  EXPECT_GE(metric_value(r.body, "edgerun_inference_request_duration_seconds_count" + labels), 1);
  EXPECT_NE(r.body.find("# TYPE edgerun_inference_queue_duration_seconds histogram"), std::string::npos);
  EXPECT_NE(r.body.find("edgerun_inference_compute_duration_seconds_bucket{model=\"plain\",version=\"1\",le=\"+Inf\"}"),
            std::string::npos);
}

TEST_F(ServeApi, KeepAliveConnectionServesManyRequests) {
  Client c(port());
  for (int i = 0; i < 20; ++i) ASSERT_EQ(c.request("GET", "/v2/health/ready").status, 200);
  ASSERT_EQ(c.request("POST", "/v2/models/plain/infer", json_infer_body(image_batch(1, 3), 1)).status, 200);
}

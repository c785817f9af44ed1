// Hostile and unlucky clients: each gets the right status and the server keeps serving the others.
// Also the bounded queue (503) and queue timeouts (504).
#include <thread>

#include "serve_test_util.h"

using namespace edgerun::serve::test;

namespace {

class ServeHostile : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    add_version(dir_->path(), "fmnist", 1, fashion_model_path());
    write_file(dir_->path() / "fmnist" / "config.json", R"({"max_batch_size": 8, "dynamic_batching": {}})");
    edgerun::serve::ServeOptions o;
    o.max_body_bytes = 1 << 20;
    o.read_timeout_ms = 1000;
    server_ = new RunningServer(dir_->path(), o);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  static uint16_t port() { return server_->port; }
  static void expect_still_serving() {
    const auto r = http(port(), "POST", "/v2/models/fmnist/infer", json_infer_body(image_batch(1, 1), 1));
    EXPECT_EQ(r.status, 200) << r.body;
  }
  static Reply infer(const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return http(port(), "POST", "/v2/models/fmnist/infer", body, headers);
  }
  static TempDir* dir_;
  static RunningServer* server_;
};
TempDir* ServeHostile::dir_ = nullptr;
RunningServer* ServeHostile::server_ = nullptr;

std::string error_of(const Reply& r) {
  const json j = r.body_json();
  return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : "<no error field>";
}

}  // namespace

TEST_F(ServeHostile, MalformedJson) {
  for (const std::string body : {"{", "", "null", "[]", "{\"inputs\": 5}", "\xff\xfe{}", "{\"inputs\":[{\"name\":1}]}"}) {
    const auto r = infer(body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_FALSE(error_of(r).empty());
  }
  expect_still_serving();
}

TEST_F(ServeHostile, WrongDatatypeShapeAndSize) {
  const auto images = image_batch(1, 1);
  json body = json::parse(json_infer_body(images, 1));
  json wrong_type = body;
  wrong_type["inputs"][0]["datatype"] = "INT32";
  auto r = infer(wrong_type.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("datatype"), std::string::npos) << error_of(r);
  json wrong_shape = body;
  wrong_shape["inputs"][0]["shape"] = {1, 28, 28, 1};
  r = infer(wrong_shape.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("shape"), std::string::npos);
  json too_big_batch = body;
  too_big_batch["inputs"][0]["shape"] = {9, 1, 28, 28};
  EXPECT_EQ(infer(too_big_batch.dump()).status, 400);
  json size_mismatch = body;
  size_mismatch["inputs"][0]["data"].erase(0);
  r = infer(size_mismatch.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("783"), std::string::npos) << error_of(r);
  expect_still_serving();
}

TEST_F(ServeHostile, BinaryLengthMismatches) {
  const auto images = image_batch(1, 2);
  const auto [body, hl] = binary_infer_body(images, 1, false);
  const auto with_length = [&](const std::string& b, size_t len) {
    return infer(b, {{"Inference-Header-Content-Length", std::to_string(len)}});
  };
  EXPECT_EQ(with_length(body, hl).status, 200);
  EXPECT_EQ(with_length(body.substr(0, body.size() - 4), hl).status, 400);       // binary data short
  EXPECT_EQ(with_length(body + "xxxx", hl).status, 400);                        // extra bytes
  EXPECT_EQ(with_length(body, body.size() + 10).status, 400);                   // header length > body
  EXPECT_EQ(with_length(body, hl - 3).status, 400);                             // cuts the JSON
  EXPECT_EQ(infer(body, {{"Inference-Header-Content-Length", "abc"}}).status, 400);
  EXPECT_EQ(infer(body, {{"Inference-Header-Content-Length", "-5"}}).status, 400);
  EXPECT_EQ(infer(body).status, 400);                                           // binary without the header
  expect_still_serving();
}

TEST_F(ServeHostile, OversizedBodyGets413) {
  const std::string big(2 << 20, 'x');
  const auto r = infer(big);
  EXPECT_EQ(r.status, 413);
  // Announced too large, body never sent: refused from the headers alone.
  Client c(port());
  ASSERT_TRUE(c.send_all("POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"));
  EXPECT_EQ(c.read_reply().status, 413);
  expect_still_serving();
}

TEST_F(ServeHostile, UnknownModelVersionAndMalformedHttp) {
  const auto body = json_infer_body(image_batch(1, 1), 1);
  EXPECT_EQ(infer(body).status, 200);
  EXPECT_EQ(http(port(), "POST", "/v2/models/nope/infer", body).status, 404);
  EXPECT_EQ(http(port(), "POST", "/v2/models/fmnist/versions/2/infer", body).status, 404);
  EXPECT_EQ(http(port(), "GET", "/v2/models/fmnist/infer").status, 405);
  Client c(port());
  ASSERT_TRUE(c.send_all("THIS IS NOT HTTP\r\n\r\n"));
  EXPECT_EQ(c.read_reply().status, 400);
  Client c2(port());
  ASSERT_TRUE(c2.send_all("GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100000, 'a') + "\r\n\r\n"));
  EXPECT_EQ(c2.read_reply().status, 431);
  expect_still_serving();
}

TEST_F(ServeHostile, SlowClientDoesNotBlockOthersAndTimesOut) {
  Client slow(port());
  ASSERT_TRUE(slow.send_all("POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"inp"));
  const auto t0 = std::chrono::steady_clock::now();
  expect_still_serving();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 900) << "a normal request waited behind a slow client";
  // The slow client is disconnected after the 1 s read timeout.
  const auto d0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(slow.closed_by_peer(5000));
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - d0).count(), 2500);
}

TEST_F(ServeHostile, DroppedConnectionMidBody) {
  for (int i = 0; i < 20; ++i) {
    Client c(port());
    ASSERT_TRUE(c.send_all("POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n{\"inputs\":"));
  }  // each closes here, mid-body
  for (int i = 0; i < 5; ++i) {
    // Full request, then gone before the answer.
    Client c(port());
    ASSERT_TRUE(c.send_all("POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                           std::to_string(json_infer_body(image_batch(1, 1), 1).size()) + "\r\n\r\n" +
                           json_infer_body(image_batch(1, 1), 1)));
  }
  expect_still_serving();
}

TEST_F(ServeHostile, TwoHundredConcurrentConnections) {
  constexpr int kConnections = 200;
  std::vector<std::unique_ptr<Client>> clients;
  const std::string body = json_infer_body(image_batch(1, 4), 1);
  const std::string request = "POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<Client>(port()));
    ASSERT_TRUE(clients.back()->connected());
  }
  for (auto& c : clients) ASSERT_TRUE(c->send_all(request));
  int ok = 0;
  for (auto& c : clients) ok += c->read_reply(30000).status == 200;
  EXPECT_EQ(ok, kConnections);
  expect_still_serving();
}

// Queue limits need a busy instance: the slow model with a large batch keeps it busy. The steps
// wait on /metrics (running, queued) rather than on sleeps, so a loaded machine cannot reorder them.
TEST(ServeQueue, FullQueueGets503AndWaitingTooLongGets504) {
  TempDir dir;
  write_file(dir.path() / "slow" / "1" / "model.onnx", slow_model());
  write_file(dir.path() / "slow" / "config.json", R"({"dynamic_batching": {"max_queue_size": 1}, "max_batch_size": 1024})");
  RunningServer s(dir.path());
  const auto small_body = [](int64_t timeout_us) {
    json b = {{"inputs", {{{"name", "x"}, {"shape", {1, 512}}, {"datatype", "FP32"}, {"data", std::vector<float>(512, 0.5f)}}}}};
    if (timeout_us) b["parameters"] = {{"timeout", timeout_us}};
    return b.dump();
  };
  const std::vector<float> big_data(1024 * 512, 0.5f);
  const std::string big_head = json({{"inputs", {{{"name", "x"}, {"shape", {1024, 512}}, {"datatype", "FP32"},
                                                 {"parameters", {{"binary_data_size", big_data.size() * 4}}}}}}}).dump();
  const std::string big_request = [&] {
    const std::string body = big_head + std::string(reinterpret_cast<const char*>(big_data.data()), big_data.size() * 4);
    return "POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nInference-Header-Content-Length: " +
           std::to_string(big_head.size()) + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  const auto gauge = [&](const std::string& name) {
    return metric_value(http(s.port, "GET", "/metrics").body, name + "{model=\"slow\",version=\"1\"}");
  };
  const auto wait_for = [&](const std::string& name, double value) {
    for (int i = 0; i < 2000 && gauge(name) != value; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return gauge(name) == value;
  };
  Client a(s.port), b(s.port), c(s.port);
  ASSERT_TRUE(a.send_all(big_request));
  ASSERT_TRUE(wait_for("edgerun_inference_pending_request_count", 1));  // a is in
  ASSERT_TRUE(wait_for("edgerun_inference_queue_size", 0));             // ... and running
  const std::string b_body = small_body(1000);                            // 1 ms in the queue at most
  ASSERT_TRUE(b.send_all("POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                         std::to_string(b_body.size()) + "\r\n\r\n" + b_body));
  ASSERT_TRUE(wait_for("edgerun_inference_queue_size", 1));  // b waits in the one slot
  const auto full = c.request("POST", "/v2/models/slow/infer", small_body(0));
  const bool a_still_running = gauge("edgerun_inference_pending_request_count") == 2;
  EXPECT_EQ(full.status, 503) << full.body;
  EXPECT_NE(error_of(full).find("queue is full"), std::string::npos);
  EXPECT_EQ(a.read_reply().status, 200);
  const auto timed_out = b.read_reply();
  EXPECT_EQ(timed_out.status, 504) << timed_out.body;
  EXPECT_NE(error_of(timed_out).find("timed out"), std::string::npos);
  EXPECT_TRUE(a_still_running) << "the big request finished too early for this test to mean much";
  EXPECT_EQ(http(s.port, "POST", "/v2/models/slow/infer", small_body(0)).status, 200);
  EXPECT_EQ(gauge("edgerun_inference_request_failure"), 2);
}

// Request bodies held at once are bounded over all connections: beyond the budget, 503.
TEST(ServeBudget, InflightBodyBytesAreBounded) {
  TempDir dir;
  add_version(dir.path(), "fmnist", 1, fashion_model_path());
  edgerun::serve::ServeOptions o;
  o.max_inflight_bytes = 100000;
  RunningServer s(dir.path(), o);
  Client holder(s.port);  // announces 80 kB and sends only part of it
  ASSERT_TRUE(holder.send_all("POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 80000\r\n\r\n{"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto body = json_infer_body(image_batch(1, 1), 1);  // about 10 kB: fits beside it
  EXPECT_EQ(http(s.port, "POST", "/v2/models/fmnist/infer", body).status, 200);
  Client second(s.port);
  ASSERT_TRUE(second.send_all("POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n{"));
  EXPECT_EQ(second.read_reply().status, 503);
  EXPECT_EQ(http(s.port, "GET", "/v2/health/ready").status, 200);  // bodiless requests need no budget
}

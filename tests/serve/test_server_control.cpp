// Version policies and model control (Triton's repository extension): load, unload, and swapping a
// new version in under concurrent traffic with zero failed requests; a broken version keeps the old one.
#include <thread>

#include "serve_test_util.h"

using namespace edgerun::serve::test;

namespace {

std::vector<std::string> served_versions(uint16_t port, const std::string& model) {
  const auto r = http(port, "GET", "/v2/models/" + model);
  if (r.status != 200) return {};
  return r.body_json()["versions"].get<std::vector<std::string>>();
}

json index_of(uint16_t port) { return http(port, "POST", "/v2/repository/index").body_json(); }

json index_entry(const json& index, const std::string& name, const std::string& version) {
  for (const auto& e : index)
    if (e["name"] == name && e.value("version", "") == version) return e;
  return json();
}

}  // namespace

TEST(ServeControl, VersionPolicies) {
  TempDir dir;
  for (const std::string m : {"latest1", "latest2", "all", "specific"})
    for (int v : {1, 2, 3}) add_version(dir.path(), m, v, fashion_model_path());
  write_file(dir.path() / "latest2" / "config.json", R"({"version_policy": {"latest": {"num_versions": 2}}})");
  write_file(dir.path() / "all" / "config.json", R"({"version_policy": {"all": {}}})");
  write_file(dir.path() / "specific" / "config.json", R"({"version_policy": {"specific": {"versions": [1, 3]}}})");
  fs::create_directories(dir.path() / "latest1" / "notaversion");
  RunningServer s(dir.path());
  EXPECT_EQ(served_versions(s.port, "latest1"), (std::vector<std::string>{"3"}));
  EXPECT_EQ(served_versions(s.port, "latest2"), (std::vector<std::string>{"2", "3"}));
  EXPECT_EQ(served_versions(s.port, "all"), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(served_versions(s.port, "specific"), (std::vector<std::string>{"1", "3"}));
  EXPECT_EQ(http(s.port, "GET", "/v2/models/specific/versions/2/ready").status, 404);
  EXPECT_EQ(http(s.port, "GET", "/v2/models/latest1/versions/1").status, 404);
  const auto body = json_infer_body(image_batch(1, 1), 1);
  const auto r = http(s.port, "POST", "/v2/models/specific/infer", body);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body_json()["model_version"], "3");  // no version given: the highest served
  EXPECT_EQ(http(s.port, "POST", "/v2/models/specific/versions/1/infer", body).body_json()["model_version"], "1");
  const json index = index_of(s.port);
  EXPECT_EQ(index_entry(index, "all", "2")["state"], "READY");
  const json ready_only = http(s.port, "POST", "/v2/repository/index", R"({"ready": true})").body_json();
  EXPECT_EQ(ready_only.size(), 1u + 2u + 3u + 2u);
}

TEST(ServeControl, UnloadAndLoad) {
  TempDir dir;
  add_version(dir.path(), "m", 1, fashion_model_path());
  RunningServer s(dir.path());
  const auto body = json_infer_body(image_batch(1, 2), 1);
  ASSERT_EQ(http(s.port, "POST", "/v2/models/m/infer", body).status, 200);
  ASSERT_EQ(http(s.port, "POST", "/v2/repository/models/m/unload").status, 200);
  EXPECT_EQ(http(s.port, "GET", "/v2/models/m/ready").status, 503);
  EXPECT_EQ(http(s.port, "POST", "/v2/models/m/infer", body).status, 503);
  EXPECT_EQ(http(s.port, "GET", "/v2/health/ready").status, 200);  // unloaded on purpose: still ready
  EXPECT_EQ(index_entry(index_of(s.port), "m", "1")["state"], "UNAVAILABLE");
  EXPECT_NE(http(s.port, "GET", "/metrics").body.find("edgerun_model_ready{model=\"m\",version=\"1\"} 0"), std::string::npos);
  ASSERT_EQ(http(s.port, "POST", "/v2/repository/models/m/load").status, 200);
  EXPECT_EQ(http(s.port, "GET", "/v2/models/m/ready").status, 200);
  EXPECT_EQ(http(s.port, "POST", "/v2/models/m/infer", body).status, 200);
  EXPECT_EQ(http(s.port, "POST", "/v2/repository/models/absent/load").status, 404);
  EXPECT_EQ(http(s.port, "POST", "/v2/repository/models/absent/unload").status, 404);
  EXPECT_EQ(http(s.port, "POST", "/v2/repository/models/..%2F..%2Fetc/load").status, 400);
  // A model added to the repository after start can be loaded.
  add_version(dir.path(), "late", 4, fashion_model_path());
  EXPECT_EQ(index_entry(index_of(s.port), "late", "")["state"], "UNAVAILABLE");
  ASSERT_EQ(http(s.port, "POST", "/v2/repository/models/late/load").status, 200);
  EXPECT_EQ(served_versions(s.port, "late"), (std::vector<std::string>{"4"}));
}

TEST(ServeControl, SwapUnderTrafficHasZeroFailures) {
  TempDir dir;
  add_version(dir.path(), "m", 1, fashion_model_path());
  write_file(dir.path() / "m" / "config.json", R"({"max_batch_size": 4, "dynamic_batching": {"max_queue_delay_microseconds": 500}})");
  RunningServer s(dir.path());
  const auto images = image_batch(1, 77);
  const auto expected = reference_logits(images, 1);
  const std::string body = json_infer_body(images, 1);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, requests{0}, from_v2{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&] {
      Client client(s.port);
      while (!stop.load()) {
        const auto r = client.request("POST", "/v2/models/m/infer", body);
        requests.fetch_add(1);
        if (r.status != 200) {
          failures.fetch_add(1);
          continue;
        }
        const json j = r.body_json();
        if (max_abs_diff(j["outputs"][0]["data"].get<std::vector<float>>(), expected) > 1e-5) failures.fetch_add(1);
        if (j["model_version"] == "2") from_v2.fetch_add(1);
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  add_version(dir.path(), "m", 2, fashion_model_path());
  const auto load = http(s.port, "POST", "/v2/repository/models/m/load");
  EXPECT_EQ(load.status, 200) << load.body;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // A broken version 3: the load fails, version 2 keeps serving, the index says why.
  write_file(dir.path() / "m" / "3" / "model.onnx", "this is not an onnx model");
  const auto bad = http(s.port, "POST", "/v2/repository/models/m/load");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body_json()["error"].get<std::string>().find("version 3"), std::string::npos) << bad.body;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop.store(true);
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0) << "of " << requests.load() << " requests";
  EXPECT_GT(from_v2.load(), 0);
  EXPECT_GT(requests.load(), 20);
  EXPECT_EQ(served_versions(s.port, "m"), (std::vector<std::string>{"2"}));
  const json index = index_of(s.port);
  EXPECT_EQ(index_entry(index, "m", "2")["state"], "READY");
  EXPECT_EQ(index_entry(index, "m", "3")["state"], "UNAVAILABLE");
  EXPECT_FALSE(index_entry(index, "m", "3")["reason"].get<std::string>().empty());
  EXPECT_EQ(index_entry(index, "m", "1")["state"], "UNAVAILABLE");
}

TEST(ServeControl, BrokenModelAtStartupIsReportedAndNotReady) {
  TempDir dir;
  add_version(dir.path(), "good", 1, fashion_model_path());
  write_file(dir.path() / "broken" / "1" / "model.onnx", std::string("\x08\x07\x12", 3));
  write_file(dir.path() / "badconfig" / "config.json", R"({"max_batch_size": "eight"})");
  add_version(dir.path(), "badconfig", 1, fashion_model_path());
  RunningServer s(dir.path());
  EXPECT_EQ(s.server->load_failures().size(), 2u);
  EXPECT_EQ(http(s.port, "GET", "/v2/health/live").status, 200);
  EXPECT_EQ(http(s.port, "GET", "/v2/health/ready").status, 503);
  EXPECT_EQ(http(s.port, "GET", "/v2/models/good/ready").status, 200);
  EXPECT_EQ(http(s.port, "GET", "/v2/models/broken/ready").status, 503);
  const json index = index_of(s.port);
  EXPECT_EQ(index_entry(index, "broken", "1")["state"], "UNAVAILABLE");
  EXPECT_NE(index_entry(index, "badconfig", "")["reason"].get<std::string>().find("max_batch_size"), std::string::npos);
}

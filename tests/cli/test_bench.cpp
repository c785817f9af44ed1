// `edgerun bench`: the JSON report, the profile trace file and errors, on small models built here.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "edgerun/edgerun.h"
#include "edgerun/io.h"
#include "../unit/model_builder.h"

using namespace edgerun;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Result {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

Result run_cli(const std::string& args, const fs::path& dir) {
  const fs::path err_file = dir / "stderr.txt";
  const std::string cmd = std::string(EDGERUN_CLI) + " " + args + " 2>" + err_file.string();
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  std::ifstream ef(err_file);
  std::string err((std::istreambuf_iterator<char>(ef)), std::istreambuf_iterator<char>());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out, err};
}

class Bench : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("edgerun_bench_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    // x[N,1,4,4] -> Conv(2 filters 3x3, pad 1) -> Relu -> Flatten -> y[N,32]: three nodes, a symbolic
    // batch dim, classifier-shaped output.
    test::ModelSpec m;
    m.input("x", {-1, 1, 4, 4});
    std::vector<float> w(18);
    for (int i = 0; i < 18; ++i) w[i] = 0.1f * static_cast<float>(i % 5) - 0.2f;
    m.initializer("W", {2, 1, 3, 3}, w);
    m.initializer("b", {2}, {0.1f, -0.1f});
    auto* conv = m.node("Conv", {"x", "W", "b"}, {"c"}, "conv");
    auto* pads = conv->add_attribute();
    pads->set_name("pads");
    pads->set_type(onnx::AttributeProto::INTS);
    for (int i = 0; i < 4; ++i) pads->add_ints(1);
    m.node("Relu", {"c"}, {"r"}, "relu");
    m.node("Flatten", {"r"}, {"y"}, "flatten");
    m.output("y", {-1, 32});
    std::ofstream(dir_ / "mlp.onnx", std::ios::binary) << m.bytes();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  Result bench(const std::string& args) { return run_cli("bench " + args, dir_); }
  fs::path dir_;
};

TEST_F(Bench, JsonReportHasSaneFields) {
  const Result r = bench(path("mlp.onnx") + " --json --iters 5 --shape x=2,1,4,4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j;
  ASSERT_NO_THROW(j = json::parse(r.out)) << "stdout is not one JSON object:\n" << r.out;
  ASSERT_TRUE(j.is_object());
  for (const char* key : {"load_ms", "first_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms", "throughput_ips", "streams",
                          "threads", "iters", "mem_mb", "arena_bytes", "energy_j", "energy_source"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["iters"].get<int>(), 5);
  EXPECT_EQ(j["streams"].get<int>(), 1);
  EXPECT_EQ(j["threads"].get<int>(), 1);
  EXPECT_GE(j["load_ms"].get<double>(), 0);
  EXPECT_GE(j["first_ms"].get<double>(), 0);
  EXPECT_GT(j["p50_ms"].get<double>(), 0);
  EXPECT_LE(j["p50_ms"].get<double>(), j["p90_ms"].get<double>());
  EXPECT_LE(j["p90_ms"].get<double>(), j["p99_ms"].get<double>());
  EXPECT_LE(j["p99_ms"].get<double>(), j["max_ms"].get<double>());
  EXPECT_GT(j["throughput_ips"].get<double>(), 0);
  EXPECT_GE(j["mem_mb"].get<double>(), 0);
  EXPECT_GE(j["energy_j"].get<double>(), 0);
  const std::string source = j["energy_source"];
  EXPECT_TRUE(source == "rapl" || source == "estimate") << source;
  EXPECT_EQ(j["inputs"]["x"]["shape"], json::array({2, 1, 4, 4}));
  EXPECT_FALSE(j.contains("max_abs_err"));  // no reference given
}

TEST_F(Bench, StreamsShareTheModel) {
  const Result r = bench(path("mlp.onnx") + " --json --iters 4 --streams 3 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["streams"].get<int>(), 3);
  EXPECT_EQ(j["iters"].get<int>(), 4);
  EXPECT_EQ(j["total_runs"].get<int>(), 12);
  EXPECT_GT(j["throughput_ips"].get<double>(), 0);
}

// --run-delay pauses before each timed run, as between camera frames: the pauses are in the wall time
// of the timed phase but neither in the latencies nor in the throughput.
TEST_F(Bench, RunDelayPausesBetweenRunsWithoutCountingThem) {
  const Result r = bench(path("mlp.onnx") + " --json --iters 5 --run-delay 40");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["run_delay_ms"].get<double>(), 40);
  EXPECT_GE(j["timed_s"].get<double>(), 5 * 0.040);
  EXPECT_LT(j["p50_ms"].get<double>(), 40);
  // Five runs of a tiny model take well under the 200 ms of pauses.
  EXPECT_GT(j["throughput_ips"].get<double>(), 5 / 0.2);
  EXPECT_NE(bench(path("mlp.onnx") + " --run-delay -1").exit_code, 0);
}

TEST_F(Bench, ReferenceGivesErrorsAndTopOneAgreement) {
  Tensor x(DType::kFloat32, {2, 1, 4, 4});
  for (int i = 0; i < 32; ++i) x.data<float>()[i] = 0.125f * static_cast<float>(i % 17) - 1.0f;
  save_npy(x, path("x.npy"));
  // The model's output for x, written by `edgerun run`, then slightly perturbed.
  ASSERT_EQ(run_cli("run " + path("mlp.onnx") + " --input x=" + path("x.npy") + " --output-dir " + path("out"), dir_).exit_code, 0);
  Tensor y = load_npy(path("out/y.npy"));
  y.data<float>()[0] += 0.001f;
  save_npy(y, path("y_ref.npy"));
  const Result r = bench(path("mlp.onnx") + " --json --iters 2 --input x=" + path("x.npy") + " --reference y=" + path("y_ref.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_NEAR(j["max_abs_err"].get<double>(), 0.001, 1e-5);
  EXPECT_GT(j["max_rel_err"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(j["top1_agreement"].get<double>(), 1.0);

  const Result bad = bench(path("mlp.onnx") + " --iters 2 --input x=" + path("x.npy") + " --reference nope=" + path("y_ref.npy"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("no output 'nope'"), std::string::npos) << bad.err;
}

TEST_F(Bench, ProfileWritesOneTraceEventPerNodePerRun) {
  const std::string trace = path("trace.json");
  const Result r = bench(path("mlp.onnx") + " --json --profile --iters 5 --warmup 1 --trace-file " + trace);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_TRUE(j.contains("profile"));
  // Ops aggregate the 5 timed runs (graph optimizations may merge nodes, so counts are not fixed).
  ASSERT_GE(j["profile"]["ops"].size(), 1u);
  for (const auto& op : j["profile"]["ops"]) {
    EXPECT_GT(op["calls"].get<int>(), 0) << op.dump();
    EXPECT_EQ(op["calls"].get<int>() % 5, 0) << op.dump();
  }
  const size_t nodes = j["profile"]["top_nodes"].size();

  std::ifstream f(trace);
  ASSERT_TRUE(f.good());
  json t;
  ASSERT_NO_THROW(t = json::parse(f));
  ASSERT_TRUE(t.contains("traceEvents"));
  std::map<std::string, int> per_node;
  double last_ts = -1;
  for (const auto& e : t["traceEvents"]) {
    if (e["ph"] != "X") continue;
    ASSERT_TRUE(e.contains("ts") && e.contains("dur") && e.contains("pid") && e.contains("tid")) << e.dump();
    EXPECT_GE(e["dur"].get<double>(), 0);
    EXPECT_GE(e["ts"].get<double>(), 0);
    per_node[e["name"]]++;
    last_ts = std::max(last_ts, e["ts"].get<double>());
  }
  // First inference + 1 warmup + 5 timed runs, for each executed node.
  ASSERT_EQ(per_node.size(), nodes);
  for (const auto& [name, n] : per_node) EXPECT_EQ(n, 7) << name;
  EXPECT_GT(last_ts, 0);

  // The text report has the op table.
  const Result text = bench(path("mlp.onnx") + " --profile --iters 3 --trace-file " + trace);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("ops by total time"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("top nodes"), std::string::npos) << text.out;
}

TEST_F(Bench, BadShapeExitsOne) {
  for (const std::string args : {" --shape x=2,abc", " --shape x=2,1,4", " --shape x=2,1,4,5", " --shape nope=1,1,4,4", " --shape x"}) {
    const Result r = bench(path("mlp.onnx") + " --iters 2" + args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.out;
    EXPECT_NE(r.err.find("error:"), std::string::npos) << args << "\n" << r.err;
  }
}

TEST_F(Bench, BadModelExitsOne) {
  std::ofstream(path("junk.onnx")) << "not a model";
  EXPECT_EQ(bench(path("junk.onnx") + " --iters 2").exit_code, 1);
  EXPECT_EQ(bench(path("missing.onnx") + " --iters 2").exit_code, 1);
}

TEST_F(Bench, TextReportNamesEveryMeasurement) {
  const Result r = bench(path("mlp.onnx") + " --iters 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* word : {"load:", "first run:", "p50", "p99", "throughput:", "memory:", "energy:"})
    EXPECT_NE(r.out.find(word), std::string::npos) << word << "\n" << r.out;
}

}  // namespace

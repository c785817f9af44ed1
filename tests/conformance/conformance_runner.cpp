// Runs ONNX backend conformance tests (model.onnx + test_data_set_*/{input,output}_N.pb) and compares
// edgerun's outputs with the references under ONNX's default tolerances (rtol 1e-3, atol 1e-7).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "edgerun/edgerun.h"
#include "kernels/common.h"
#include "onnx/onnx_loader.h"

namespace fs = std::filesystem;
using namespace edgerun;

namespace {

struct Options {
  std::vector<std::string> dirs;
  std::string filter;
  std::string known_pass;   // file listing tests that must pass
  std::string write_pass;   // write the passing test names here
  bool isolate = true;
  bool quiet = false;
  double rtol = 1e-3, atol = 1e-7;
  int timeout_s = 60;
};

enum class Verdict { kPass, kFail, kUnsupported };

struct Outcome {
  Verdict verdict;
  std::string reason;
};

std::string compare(const Tensor& got, const Tensor& want, const std::string& name, double rtol, double atol) {
  if (got.dtype() != want.dtype())
    return "output '" + name + "': dtype " + dtype_name(got.dtype()) + ", expected " + dtype_name(want.dtype());
  if (got.shape() != want.shape())
    return "output '" + name + "': shape " + shape_str(got.shape()) + ", expected " + shape_str(want.shape());
  std::ostringstream why;
  int64_t bad = 0, first = -1;
  if (want.dtype() == DType::kString) {
    for (int64_t i = 0; i < want.numel(); ++i)
      if (got.data<std::string>()[i] != want.data<std::string>()[i]) { if (first < 0) first = i; ++bad; }
    if (bad) why << "output '" << name << "': " << bad << " strings differ, first at " << first << ": '"
                 << got.data<std::string>()[first] << "' vs '" << want.data<std::string>()[first] << "'";
    return why.str();
  }
  const auto g = tensor_to_doubles(got), w = tensor_to_doubles(want);
  const bool exact = !(want.dtype() == DType::kFloat32 || want.dtype() == DType::kFloat64 ||
                       want.dtype() == DType::kFloat16 || want.dtype() == DType::kBFloat16);
  double worst = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    bool ok;
    if (exact) ok = g[i] == w[i];
    else if (std::isnan(w[i])) ok = std::isnan(g[i]);
    else if (std::isinf(w[i])) ok = g[i] == w[i];
    else ok = std::fabs(g[i] - w[i]) <= atol + rtol * std::fabs(w[i]);
    if (!ok) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++bad;
      if (!std::isnan(g[i])) worst = std::max(worst, std::fabs(g[i] - w[i]));
    }
  }
  if (!bad) return "";
  why << "output '" << name << "': " << bad << "/" << w.size() << " values differ; first at flat index " << first
      << ": got " << g[first] << ", expected " << w[first] << " (max abs diff " << worst << ")";
  return why.str();
}

std::vector<fs::path> sorted_pbs(const fs::path& dir, const std::string& prefix) {
  std::vector<std::pair<int, fs::path>> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) == 0 && e.path().extension() == ".pb")
      files.emplace_back(std::stoi(n.substr(prefix.size())), e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<fs::path> out;
  for (auto& f : files) out.push_back(f.second);
  return out;
}

// ONNX 1.12's test data stores bfloat16 tensors as uint16 bit patterns; read them as declared.
Tensor as_declared(const Tensor& t, DType declared) {
  if (declared == DType::kBFloat16 && t.dtype() == DType::kUInt16)
    return Tensor::borrow(DType::kBFloat16, t.shape(), const_cast<void*>(t.raw())).clone();
  return t;
}

Outcome run_test(const fs::path& dir, const Options& opt) {
  std::shared_ptr<Model> model;
  std::unique_ptr<Session> session;
  try {
    model = Model::load((dir / "model.onnx").string());
    session = std::make_unique<Session>(model);
  } catch (const Error& e) {
    return {e.code() == ErrorCode::kUnsupported ? Verdict::kUnsupported : Verdict::kFail, std::string("load: ") + e.what()};
  }
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return {Verdict::kFail, "no test_data_set_* folders"};
  for (const auto& set : sets) {
    std::map<std::string, Tensor> inputs;
    std::vector<Tensor> expected;
    try {
      const auto in_files = sorted_pbs(set, "input_");
      if (in_files.size() > model->inputs().size())
        return {Verdict::kFail, "test provides " + std::to_string(in_files.size()) + " inputs, model declares " +
                                    std::to_string(model->inputs().size())};
      for (size_t i = 0; i < in_files.size(); ++i)
        inputs[model->inputs()[i].name] = as_declared(load_tensor_pb(in_files[i].string()), model->inputs()[i].dtype);
      const auto out_files = sorted_pbs(set, "output_");
      for (size_t i = 0; i < out_files.size(); ++i)
        expected.push_back(as_declared(load_tensor_pb(out_files[i].string()),
                                       i < model->outputs().size() ? model->outputs()[i].dtype : DType::kUndefined));
    } catch (const Error& e) {
      return {Verdict::kUnsupported, std::string("test data: ") + e.what()};
    }
    std::vector<Tensor> got;
    try {
      got = session->run(inputs);
    } catch (const Error& e) {
      return {e.code() == ErrorCode::kUnsupported ? Verdict::kUnsupported : Verdict::kFail, std::string("run: ") + e.what()};
    }
    if (got.size() < expected.size()) return {Verdict::kFail, "produced " + std::to_string(got.size()) + " outputs, expected " + std::to_string(expected.size())};
    for (size_t i = 0; i < expected.size(); ++i) {
      const std::string diff = compare(got[i], expected[i], model->outputs()[i].name, opt.rtol, opt.atol);
      if (!diff.empty()) return {Verdict::kFail, set.filename().string() + ": " + diff};
    }
  }
  return {Verdict::kPass, ""};
}

// Runs one test in a child process so that a crash or hang is reported, not fatal.
Outcome run_isolated(const fs::path& dir, const Options& opt) {
  int fds[2];
  if (pipe(fds) != 0) return run_test(dir, opt);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(static_cast<unsigned>(opt.timeout_s));
    Outcome o = run_test(dir, opt);
    std::string msg = std::to_string(static_cast<int>(o.verdict)) + o.reason;
    (void)!write(fds[1], msg.data(), msg.size());
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status))
    return {Verdict::kFail, std::string("crashed with signal ") + strsignal(WTERMSIG(status))};
  if (msg.empty()) return {Verdict::kFail, "child exited without a result"};
  return {static_cast<Verdict>(msg[0] - '0'), msg.substr(1)};
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) { std::cerr << a << " needs a value\n"; std::exit(2); }
      return argv[++i];
    };
    if (a == "--filter") opt.filter = next();
    else if (a == "--known-pass") opt.known_pass = next();
    else if (a == "--write-pass") opt.write_pass = next();
    else if (a == "--no-isolate") opt.isolate = false;
    else if (a == "--quiet") opt.quiet = true;
    else if (a == "--timeout") opt.timeout_s = std::stoi(next());
    else if (a == "-h" || a == "--help") {
      std::cout << "usage: edgerun_conformance [--filter SUBSTR] [--known-pass FILE] [--write-pass FILE] [--no-isolate]\n"
                   "                           [--quiet] [--timeout S] DIR...\n"
                   "DIR is a folder of tests (e.g. .../data/node) or one test folder.\n";
      return 0;
    } else opt.dirs.push_back(a);
  }
  if (opt.dirs.empty()) { std::cerr << "no test folder given (try /usr/share/libonnx-testdata/data/node)\n"; return 2; }

  std::vector<fs::path> tests;
  for (const auto& d : opt.dirs) {
    if (fs::exists(fs::path(d) / "model.onnx")) { tests.push_back(d); continue; }
    if (!fs::is_directory(d)) { std::cerr << "not a folder: " << d << "\n"; return 2; }
    for (const auto& e : fs::directory_iterator(d))
      if (fs::exists(e.path() / "model.onnx")) tests.push_back(e.path());
  }
  std::sort(tests.begin(), tests.end());

  std::set<std::string> must_pass;
  if (!opt.known_pass.empty()) {
    std::ifstream in(opt.known_pass);
    if (!in) { std::cerr << "cannot read " << opt.known_pass << "\n"; return 2; }
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line[0] != '#') must_pass.insert(line);
  }

  int passed = 0, failed = 0, unsupported = 0;
  std::vector<std::string> pass_names, regressions;
  for (const auto& t : tests) {
    const std::string name = t.filename().string();
    if (!opt.filter.empty() && name.find(opt.filter) == std::string::npos) continue;
    const Outcome o = opt.isolate ? run_isolated(t, opt) : run_test(t, opt);
    const char* label = o.verdict == Verdict::kPass ? "PASS" : o.verdict == Verdict::kFail ? "FAIL" : "UNSUPPORTED";
    if (o.verdict == Verdict::kPass) { ++passed; pass_names.push_back(name); }
    else {
      (o.verdict == Verdict::kFail ? failed : unsupported)++;
      if (must_pass.count(name)) regressions.push_back(name + ": " + o.reason);
    }
    if (!opt.quiet || o.verdict != Verdict::kPass)
      std::cout << label << " " << name << (o.reason.empty() ? "" : ": " + o.reason) << "\n";
  }
  if (!opt.write_pass.empty()) {
    std::ofstream out(opt.write_pass);
    for (const auto& n : pass_names) out << n << "\n";
  }
  std::cout << "\nconformance summary: " << passed << " passed, " << failed << " failed, " << unsupported
            << " unsupported, " << (passed + failed + unsupported) << " total\n";
  if (!regressions.empty()) {
    std::cout << regressions.size() << " test(s) listed as known to pass did not pass:\n";
    for (const auto& r : regressions) std::cout << "  " << r << "\n";
    return 1;
  }
  return 0;
}

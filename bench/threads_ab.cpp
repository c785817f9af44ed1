// Two threads against one in one process. Three sessions of one model take turns run by run, so all
// three see the same load from other processes: one thread; two threads as shipped (choosing run by
// run between the pool and the calling thread); two threads with every run on both
// (EDGERUN_ADAPTIVE_THREADS=0). Separate benchmark processes cannot give this: where the scheduler
// puts a process's threads beside busy ones changes its p50 by up to 2x from one process to the next.
//
//   edgerun_threads_ab MODEL.onnx [--busy N] [--runs N] [--warmup N] [--trace FILE.csv]
//
// --busy N starts N busy-looping child processes before the sessions are made and stops them at the
// end. Each round runs the three sessions once, in an order that rotates from round to round.
// Prints each session's p50 and p90, their ratios to one thread, and the median of the per-round
// ratios (each against the one-thread run of the same round). --trace writes every round's times and
// whether the shipped two-thread session ran on one thread.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "edgerun/edgerun.h"

using namespace edgerun;

namespace {

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

std::map<std::string, Tensor> random_inputs(const Model& model) {
  std::map<std::string, Tensor> feeds;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> real(-1.f, 1.f);
  for (const auto& in : model.inputs()) {
    Shape s;
    for (const auto& d : in.dims) s.push_back(d.value < 0 ? 1 : d.value);
    Tensor t(DType::kFloat32, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = real(rng);
    feeds[in.name] = t;
  }
  return feeds;
}

// Busy-looping children, killed when this process ends (also if it dies first).
class BusyProcesses {
 public:
  explicit BusyProcesses(int n) {
    for (int i = 0; i < n; ++i) {
      const pid_t pid = fork();
      if (pid < 0) throw std::runtime_error("fork failed");
      if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        volatile unsigned spin = 0;
        for (;;) spin = spin + 1;
      }
      pids_.push_back(pid);
    }
  }
  ~BusyProcesses() {
    for (pid_t p : pids_) kill(p, SIGKILL);
    for (pid_t p : pids_) waitpid(p, nullptr, 0);
  }

 private:
  std::vector<pid_t> pids_;
};

struct Contender {
  const char* label;
  std::unique_ptr<Session> session;
  std::vector<double> ms;
};

}  // namespace

int main(int argc, char** argv) {
  int busy = 0, runs = 200, warmup = 3;
  std::string path, trace_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--busy") && i + 1 < argc) busy = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--trace") && i + 1 < argc) trace_path = argv[++i];
    else if (path.empty() && argv[i][0] != '-') path = argv[i];
    else busy = -1;  // unknown argument: the usage below
  }
  if (path.empty() || runs < 1 || busy < 0 || warmup < 0) {
    std::fprintf(stderr, "usage: %s MODEL.onnx [--busy N] [--runs N] [--warmup N] [--trace FILE.csv]\n", argv[0]);
    return 2;
  }
  try {
    BusyProcesses hogs(busy);
    // The pool reads EDGERUN_ADAPTIVE_THREADS when it is made.
    auto make = [&](int threads, bool adaptive) {
      SessionOptions o;
      o.num_threads = threads;
      setenv("EDGERUN_ADAPTIVE_THREADS", adaptive ? "1" : "0", 1);
      auto s = std::make_unique<Session>(Model::load(path), o);
      unsetenv("EDGERUN_ADAPTIVE_THREADS");
      return s;
    };
    std::vector<Contender> c;
    c.push_back({"1 thread", make(1, true), {}});
    c.push_back({"2 threads", make(2, true), {}});
    c.push_back({"2 threads, every run on both", make(2, false), {}});
    const auto feeds = random_inputs(c[0].session->model());
    for (auto& x : c)
      for (int i = 0; i < 1 + warmup; ++i) x.session->run(feeds);

    // Whether the shipped two-thread session ran each round on one thread.
    std::vector<bool> single(static_cast<size_t>(runs));
    for (int r = 0; r < runs; ++r)
      for (size_t k = 0; k < c.size(); ++k) {
        auto& x = c[(k + static_cast<size_t>(r)) % c.size()];
        const int64_t single_before = x.session->run_counts().single_thread;
        const auto start = std::chrono::steady_clock::now();
        x.session->run(feeds);
        x.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        if (&x == &c[1]) single[static_cast<size_t>(r)] = x.session->run_counts().single_thread > single_before;
      }
    if (!trace_path.empty()) {
      std::FILE* f = std::fopen(trace_path.c_str(), "w");
      if (!f) throw std::runtime_error("cannot write " + trace_path);
      std::fprintf(f, "round,one_thread_ms,two_threads_ms,two_threads_on_one,every_run_on_both_ms\n");
      for (size_t r = 0; r < single.size(); ++r)
        std::fprintf(f, "%zu,%.4f,%.4f,%d,%.4f\n", r, c[0].ms[r], c[1].ms[r], single[r] ? 1 : 0, c[2].ms[r]);
      std::fclose(f);
    }

    std::printf("%s, %d busy processes, %d rounds (+%d untimed runs per session)\n", path.c_str(), busy, runs,
                1 + warmup);
    const double one_p50 = quantile(c[0].ms, 0.5);
    for (const auto& x : c) {
      std::vector<double> per_round(x.ms.size());
      for (size_t i = 0; i < x.ms.size(); ++i) per_round[i] = x.ms[i] / c[0].ms[i];
      std::printf("%-30s p50 %8.3f ms  p90 %8.3f ms  p50 / 1 thread %.3f  median per-round ratio %.3f\n", x.label,
                  quantile(x.ms, 0.5), quantile(x.ms, 0.9), quantile(x.ms, 0.5) / one_p50, quantile(per_round, 0.5));
    }
    std::printf("2 threads as shipped: %lld of %d timed runs on one thread\n",
                static_cast<long long>(std::count(single.begin(), single.end(), true)), runs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

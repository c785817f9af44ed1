// `edgerun serve` as a process: prints the address it listens on, serves, stops cleanly on SIGTERM,
// and refuses a missing repository with a clear error.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "serve_test_util.h"

using namespace edgerun::serve::test;

namespace {

struct Child {
  pid_t pid = -1;
  int out = -1;  // stdout + stderr of the child
};

Child spawn(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

// Reads the child's output until `needle` shows up or `timeout_ms` passes.
std::string read_until(int fd, const std::string& needle, int timeout_ms) {
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (text.find(needle) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST(ServeCli, PrintsItsAddressServesAndStopsOnSigterm) {
  TempDir dir;
  add_version(dir.path(), "fmnist", 1, fashion_model_path());
  Child c = spawn({EDGERUN_CLI, "serve", "--model-repository", dir.path().string(), "--http-port", "0", "--threads", "1"});
  ASSERT_GT(c.pid, 0);
  const std::string out = read_until(c.out, "\n", 30000);
  const std::string prefix = "listening on http://127.0.0.1:";
  const size_t at = out.find(prefix);
  ASSERT_NE(at, std::string::npos) << out;
  const int port = std::atoi(out.c_str() + at + prefix.size());
  ASSERT_GT(port, 0);
  EXPECT_EQ(http(static_cast<uint16_t>(port), "GET", "/v2/health/ready").status, 200);
  const auto r = http(static_cast<uint16_t>(port), "POST", "/v2/models/fmnist/infer", json_infer_body(image_batch(1, 1), 1));
  EXPECT_EQ(r.status, 200) << r.body;
  ::kill(c.pid, SIGTERM);
  EXPECT_NE(read_until(c.out, "stopping", 10000).find("stopping"), std::string::npos);
  EXPECT_EQ(wait_exit(c.pid), 0);
  ::close(c.out);
}

TEST(ServeCli, MissingRepositoryIsAnError) {
  Child c = spawn({EDGERUN_CLI, "serve", "--model-repository", "/nonexistent/edgerun-repo", "--http-port", "0"});
  ASSERT_GT(c.pid, 0);
  const std::string out = read_until(c.out, "\n", 10000);
  EXPECT_EQ(wait_exit(c.pid), 1);
  EXPECT_NE(out.find("not a directory"), std::string::npos) << out;
  ::close(c.out);
}

// Load generator for `edgerun serve`: binary-extension inference requests over keep-alive
// connections, closed loop (fixed concurrency, for saturation throughput and error counts) or open
// loop (fixed arrival rate, latency measured from each request's scheduled start, so a slow server
// cannot hide its queueing). Optionally asks the server to reload a model after a number of
// requests (a version swap under load). Prints one JSON object.
//
//   edgerun_serve_load --port P --model M --input input --shape 1,3,224,224 --concurrency 4 --requests 2000
//   edgerun_serve_load --port P --model M --input input --shape 1,3,224,224 --rate 50 --duration 20
//   edgerun_serve_load ... --requests 10000 --reload-after 3000   (POST /v2/repository/models/M/load)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int port = 8000;
  std::string model, input = "input";
  std::vector<long> shape = {1, 3, 224, 224};
  int concurrency = 4;
  long requests = 0;      // closed loop: total requests
  double rate = 0;        // open loop: requests per second
  double duration = 10;   // open loop: seconds
  long reload_after = -1; // completed requests before POST .../load
  int connections = 64;   // open loop: connections (one thread each)
};

class Connection {
 public:
  explicit Connection(int port) : port_(port) { open(); }
  ~Connection() { if (fd_ >= 0) ::close(fd_); }
  // Sends `request`, reads one response; returns the status (0: connection failed).
  int exchange(const std::string& request, std::string* body = nullptr) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0) open();
      if (send_all(request)) {
        const int status = read_response(body);
        if (status) return status;
      }
      ::close(fd_);
      fd_ = -1;
      buf_.clear();
      if (attempt == 0 && sent_ok_before_) continue;  // server closed an idle keep-alive: retry once
    }
    return 0;
  }

 private:
  void open() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sent_ok_before_ = false;
  }
  bool send_all(const std::string& d) {
    if (fd_ < 0) return false;
    size_t off = 0;
    while (off < d.size()) {
      const ssize_t n = ::send(fd_, d.data() + off, d.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  bool fill() {
    char tmp[65536];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int read_response(std::string* body) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return 0;
    const std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    const int status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
    size_t length = 0;
    for (size_t p = head.find("\r\n"); p != std::string::npos; p = head.find("\r\n", p + 2)) {
      if (strncasecmp(head.c_str() + p + 2, "content-length:", 15) == 0) length = std::strtoul(head.c_str() + p + 17, nullptr, 10);
    }
    while (buf_.size() < length)
      if (!fill()) return 0;
    if (body) *body = buf_.substr(0, length);
    buf_.erase(0, length);
    sent_ok_before_ = true;
    return status;
  }
  int port_;
  int fd_ = -1;
  bool sent_ok_before_ = false;
  std::string buf_;
};

std::vector<long> parse_shape(const std::string& s) {
  std::vector<long> v;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t next = s.find(',', pos);
    if (next == std::string::npos) next = s.size();
    v.push_back(std::stol(s.substr(pos, next - pos)));
    pos = next + 1;
  }
  return v;
}

std::string infer_request(const Options& o) {
  long n = 1;
  std::string shape;
  for (long d : o.shape) {
    n *= d;
    shape += (shape.empty() ? "" : ",") + std::to_string(d);
  }
  std::vector<float> data(static_cast<size_t>(n));
  uint32_t s = 12345;
  for (auto& x : data) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / 8388608.0f - 1.0f;
  }
  const std::string header = "{\"inputs\":[{\"name\":\"" + o.input + "\",\"shape\":[" + shape +
                             "],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":" +
                             std::to_string(n * 4) + "}}],\"parameters\":{\"binary_data_output\":true}}";
  std::string body = header;
  body.append(reinterpret_cast<const char*>(data.data()), data.size() * 4);
  return "POST /v2/models/" + o.model + "/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
         "Inference-Header-Content-Length: " + std::to_string(header.size()) + "\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(rank);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--port") o.port = std::stoi(v);
    else if (k == "--model") o.model = v;
    else if (k == "--input") o.input = v;
    else if (k == "--shape") o.shape = parse_shape(v);
    else if (k == "--concurrency") o.concurrency = std::stoi(v);
    else if (k == "--requests") o.requests = std::stol(v);
    else if (k == "--rate") o.rate = std::stod(v);
    else if (k == "--duration") o.duration = std::stod(v);
    else if (k == "--reload-after") o.reload_after = std::stol(v);
    else if (k == "--connections") o.connections = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.model.empty() || (o.requests <= 0 && o.rate <= 0)) {
    std::fprintf(stderr, "usage: %s --port P --model M [--input NAME] [--shape d,d,..] "
                 "(--concurrency C --requests N [--reload-after K] | --rate R --duration S [--connections C])\n", argv[0]);
    return 2;
  }
  const std::string request = infer_request(o);
  const bool open_loop = o.rate > 0;
  const long total = open_loop ? static_cast<long>(o.rate * o.duration) : o.requests;
  std::vector<double> latency_ms(static_cast<size_t>(total), -1);
  std::vector<int> status(static_cast<size_t>(total), 0);
  std::atomic<long> next{0}, completed{0};
  int reload_status = -1;
  double reload_ms = 0;
  std::thread reloader;
  if (o.reload_after >= 0)
    reloader = std::thread([&] {
      while (completed.load() < o.reload_after) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      Connection c(o.port);
      const auto t0 = Clock::now();
      std::string body;
      reload_status = c.exchange("POST /v2/repository/models/" + o.model + "/load HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &body);
      reload_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (reload_status != 200) std::fprintf(stderr, "reload: %d %s\n", reload_status, body.c_str());
    });
  const auto start = Clock::now();
  const int threads = open_loop ? o.connections : o.concurrency;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      Connection c(o.port);
      for (;;) {
        const long i = next.fetch_add(1);
        if (i >= total) return;
        Clock::time_point scheduled = Clock::now();
        if (open_loop) {
          scheduled = start + std::chrono::nanoseconds(static_cast<long>(static_cast<double>(i) * 1e9 / o.rate));
          std::this_thread::sleep_until(scheduled);
        }
        status[static_cast<size_t>(i)] = c.exchange(request);
        latency_ms[static_cast<size_t>(i)] = std::chrono::duration<double, std::milli>(Clock::now() - scheduled).count();
        completed.fetch_add(1);
      }
    });
  for (auto& w : workers) w.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (reloader.joinable()) reloader.join();
  std::map<int, long> by_status;
  std::vector<double> ok_latency;
  for (long i = 0; i < total; ++i) {
    by_status[status[static_cast<size_t>(i)]]++;
    if (status[static_cast<size_t>(i)] == 200) ok_latency.push_back(latency_ms[static_cast<size_t>(i)]);
  }
  const long errors = total - by_status[200];
  std::string statuses;
  for (const auto& s : by_status) statuses += (statuses.empty() ? "" : ",") + std::string("\"") + std::to_string(s.first) + "\":" + std::to_string(s.second);
  std::printf("{\"mode\":\"%s\",\"requests\":%ld,\"errors\":%ld,\"statuses\":{%s},\"seconds\":%.3f,\"throughput_rps\":%.2f,"
              "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f",
              open_loop ? "open" : "closed", total, errors, statuses.c_str(), seconds, static_cast<double>(total) / seconds,
              percentile(ok_latency, 50), percentile(ok_latency, 90), percentile(ok_latency, 99),
              ok_latency.empty() ? 0.0 : *std::max_element(ok_latency.begin(), ok_latency.end()));
  if (open_loop) std::printf(",\"target_rps\":%.2f", o.rate);
  if (o.reload_after >= 0) std::printf(",\"reload_status\":%d,\"reload_ms\":%.1f", reload_status, reload_ms);
  std::printf("}\n");
  return errors ? 1 : 0;
}

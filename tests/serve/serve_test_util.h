// Shared pieces of the serve tests: a raw-socket HTTP client (hostile cases need byte-level
// control), temporary model repositories, test models and an in-process server on a free port.
#pragma once
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../unit/model_builder.h"
#include "edgerun/edgerun.h"
#include "serve/server.h"

namespace edgerun::serve::test {

namespace fs = std::filesystem;
using nlohmann::json;

struct Reply {
  int status = 0;  // 0: no (complete) response
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  json body_json() const { return json::parse(body, nullptr, false); }
};

class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  bool send_all(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads one response; status 0 when the connection closed or `timeout_ms` passed first.
  Reply read_reply(int timeout_ms = 20000) {
    Reply r;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline)) return r;
    const std::string head = buf_.substr(0, header_end);
    buf_.erase(0, header_end + 4);
    size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12) return r;
    const int status = std::atoi(status_line.c_str() + 9);
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value[0] == ' ') value.erase(0, 1);
      r.headers[name] = value;
    }
    const size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (buf_.size() < length)
      if (!fill(deadline)) return r;
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    r.status = status;
    return r;
  }
  // True when the server closed the connection (EOF) within `timeout_ms`.
  bool closed_by_peer(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (fill(deadline)) {
    }
    return eof_;
  }
  Reply request(const std::string& method, const std::string& path, const std::string& body = "",
                const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& h : headers) req += h.first + ": " + h.second + "\r\n";
    if (!body.empty() || method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    send_all(req);  // the server may answer (413, 400) before taking the whole request
    return read_reply();
  }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char tmp[65536];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

// One request on a fresh connection.
inline Reply http(uint16_t port, const std::string& method, const std::string& path, const std::string& body = "",
                  const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  Client c(port);
  return c.request(method, path, body, headers);
}

inline std::string fashion_model_path() { return std::string(EDGERUN_SOURCE_DIR) + "/models/fashion_mnist_cnn.onnx"; }

// A fresh folder under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("edgerun_serve_" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1)));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline void write_file(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f << data;
}

inline void add_version(const fs::path& repo, const std::string& model, int version, const std::string& onnx_file) {
  fs::create_directories(repo / model / std::to_string(version));
  fs::copy_file(onnx_file, repo / model / std::to_string(version) / "model.onnx", fs::copy_options::overwrite_existing);
}

// y = x (Identity) for int64, bool, uint8, fp16, fp32 and int8 inputs of shape [N,3].
inline std::string types_model() {
  edgerun::test::ModelSpec m;
  const std::vector<std::pair<std::string, int>> types = {
      {"i64", onnx::TensorProto::INT64}, {"b", onnx::TensorProto::BOOL},    {"u8", onnx::TensorProto::UINT8},
      {"f16", onnx::TensorProto::FLOAT16}, {"f32", onnx::TensorProto::FLOAT}, {"i8", onnx::TensorProto::INT8}};
  for (const auto& t : types) {
    m.input(t.first, {-1, 3}, t.second);
    m.node("Identity", {t.first}, {t.first + "_out"});
    m.output(t.first + "_out", {-1, 3}, t.second);
  }
  return m.bytes();
}

// y = x @ W @ W ... (`depth` MatMuls of [N,512] by [512,512]): run time grows with the batch N,
// so a large request keeps an instance busy long enough for queue tests.
inline std::string slow_model(int depth = 16) {
  edgerun::test::ModelSpec m;
  const int64_t k = 512;
  std::vector<float> w(static_cast<size_t>(k * k));
  for (size_t i = 0; i < w.size(); ++i) w[i] = (i % (k + 1) == 0) ? 1.0f : 0.0f;  // identity keeps values bounded
  m.initializer("W", {k, k}, w);
  m.input("x", {-1, k});
  std::string prev = "x";
  for (int i = 0; i < depth; ++i) {
    const std::string out = i + 1 == depth ? "y" : "h" + std::to_string(i);
    m.node("MatMul", {prev, "W"}, {out});
    prev = out;
  }
  m.output("y", {-1, k});
  return m.bytes();
}

// An in-process server on a free port of 127.0.0.1.
struct RunningServer {
  explicit RunningServer(const fs::path& repo, ServeOptions o = {}) {
    o.model_repository = repo.string();
    o.host = "127.0.0.1";
    o.http_port = 0;
    server = std::make_unique<Server>(o);
    server->start();
    port = server->port();
  }
  ~RunningServer() { server->stop(); }
  std::unique_ptr<Server> server;
  uint16_t port = 0;
};

// Deterministic pseudo-random Fashion-MNIST-shaped input, values in [0, 1).
inline std::vector<float> image_batch(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n * 784));
  uint32_t s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / 16777216.0f;
  }
  return v;
}

// The logits the engine computes for `images` ([n,1,28,28]) through the Session API directly.
inline std::vector<float> reference_logits(const std::vector<float>& images, int64_t n) {
  static std::shared_ptr<Model> model = Model::load(fashion_model_path());
  Session session(model);
  Tensor x(DType::kFloat32, {n, 1, 28, 28});
  std::memcpy(x.raw(), images.data(), images.size() * sizeof(float));
  const auto out = session.run({{"input", x}});
  return {out[0].data<float>(), out[0].data<float>() + out[0].numel()};
}

inline std::string json_infer_body(const std::vector<float>& images, int64_t n, const json& extra = json::object()) {
  json body = {{"inputs", {{{"name", "input"}, {"shape", {n, 1, 28, 28}}, {"datatype", "FP32"}, {"data", images}}}}};
  for (const auto& item : extra.items()) body[item.key()] = item.value();
  return body.dump();
}

// A binary-extension body: JSON header then raw float32 bytes. Returns {body, header length}.
inline std::pair<std::string, size_t> binary_infer_body(const std::vector<float>& images, int64_t n, bool binary_output) {
  json header = {{"inputs",
                  {{{"name", "input"},
                    {"shape", {n, 1, 28, 28}},
                    {"datatype", "FP32"},
                    {"parameters", {{"binary_data_size", images.size() * sizeof(float)}}}}}}};
  if (binary_output) header["parameters"] = {{"binary_data_output", true}};
  std::string body = header.dump();
  const size_t json_length = body.size();
  body.append(reinterpret_cast<const char*>(images.data()), images.size() * sizeof(float));
  return {body, json_length};
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 1e30;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

// Value of one sample line of the /metrics text, e.g. name{model="m",version="1"}; -1 when absent.
inline double metric_value(const std::string& text, const std::string& series) {
  const size_t pos = text.find("\n" + series + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + series.size() + 2));
}

}  // namespace edgerun::serve::test

// Boost 1.74's Asio uses std::exchange in C++20 mode without including <utility>.
#include <utility>

#include "serve/http_server.h"

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <thread>

#include "edgerun/error.h"

namespace edgerun::serve {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Shared {
  HttpServerOptions options;
  Handler handler;
  std::atomic<size_t> connections{0};
  std::atomic<size_t> inflight_bytes{0};
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<Shared> shared) : stream_(std::move(socket)), shared_(std::move(shared)) {
    shared_->connections.fetch_add(1);
    // Beast sizes each read by the buffer's free capacity (at least 512 bytes); the body is moved
    // out of the buffer as it arrives, so without room here a 600 kB body takes ~1200 reads.
    buffer_.reserve(64 * 1024);
  }
  ~Connection() {
    release_budget();
    shared_->connections.fetch_sub(1);
  }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

 private:
  void read_header() {
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_bytes);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(shared_->options.read_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    // Reserve the body's size (the limit when chunked) from the shared budget before reading it.
    const auto length = parser_->content_length();
    const size_t want = parser_->is_done() ? 0
                        : length           ? static_cast<size_t>(*length)
                                           : shared_->options.max_body_bytes;
    if (want > shared_->options.max_body_bytes)
      return reply_and_close(413, "request body exceeds the limit of " + std::to_string(shared_->options.max_body_bytes) + " bytes");
    if (shared_->inflight_bytes.fetch_add(want) + want > shared_->options.max_inflight_bytes) {
      shared_->inflight_bytes.fetch_sub(want);
      return reply_and_close(503, "the server holds too many request bodies, try again later");
    }
    reserved_ = want;
    auto& req = parser_->get();
    if (length) req.body().reserve(static_cast<size_t>(*length));  // one allocation, no regrowth
    // curl and others wait for "100 Continue" before sending a large body.
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, req.version());
      http::async_write(stream_, *cont, [self = shared_from_this(), cont](beast::error_code ec2, size_t) {
        if (ec2) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) return close();
    if (ec == http::error::body_limit)
      return reply_and_close(413, "request body exceeds the limit of " + std::to_string(shared_->options.max_body_bytes) + " bytes");
    if (ec == http::error::header_limit) return reply_and_close(431, "request headers are too large");
    // beast::error::timeout: the stream has already closed the socket (idle keep-alive, or a client
    // too slow to send its request); there is no one left to answer.
    if (ec.category() == beast::error_code(http::error::bad_method).category())
      return reply_and_close(400, std::string("malformed HTTP request: ") + ec.message());
    close();
  }

  void on_read(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    auto h = req.find("Inference-Header-Content-Length");
    if (h != req.end()) r.inference_header_length = std::string(h->value());
    r.body = std::move(req.body());
    parser_.reset();
    // The handler may take long (queued inference): no read deadline while it runs.
    stream_.expires_never();
    Responder respond = [self = shared_from_this()](HttpResponse resp) {
      asio::post(self->stream_.get_executor(),
                 [self, resp = std::move(resp)]() mutable { self->write(std::move(resp), !self->keep_alive_); });
    };
    try {
      shared_->handler(std::move(r), std::move(respond));
    } catch (const std::exception& e) {
      reply_and_close(500, e.what());
    }
  }

  void reply_and_close(int status, const std::string& message) {
    HttpResponse r;
    r.status = status;
    // Same shape as the API's errors; the message never holds request bytes, so no escaping is needed.
    std::string escaped;
    for (char c : message) {
      if (c == '"' || c == '\\') escaped += '\\';
      escaped += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
    }
    r.body = "{\"error\":\"" + escaped + "\"}";
    write(std::move(r), true);
  }

  void write(HttpResponse resp, bool close_after) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version_ ? version_ : 11);
    res->result(static_cast<unsigned>(resp.status));
    res->set(http::field::server, "edgerun");
    res->set(http::field::content_type, resp.content_type);
    for (const auto& h : resp.headers) res->set(h.first, h.second);
    res->body() = std::move(resp.body);
    res->keep_alive(!close_after);
    res->prepare_payload();
    stream_.expires_after(shared_->options.write_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res, close_after](beast::error_code ec, size_t) {
      self->release_budget();
      if (ec) return self->close();
      if (close_after) return self->drain_and_close();
      self->read_header();
    });
  }

  // After an error reply the client may still be sending its body: closing at once would reset the
  // connection and the client could lose the reply. Stop sending, then discard what arrives for a
  // short, fixed time before closing.
  void drain_and_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    stream_.expires_after(std::chrono::seconds(1));
    drain_some();
  }

  void drain_some() {
    auto scratch = std::make_shared<std::array<char, 16384>>();
    stream_.async_read_some(asio::buffer(*scratch), [self = shared_from_this(), scratch](beast::error_code ec, size_t) {
      if (ec) return self->close();
      self->drain_some();
    });
  }

  void release_budget() {
    if (reserved_) shared_->inflight_bytes.fetch_sub(reserved_);
    reserved_ = 0;
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Shared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
  size_t reserved_ = 0;  // bytes of the inflight budget this connection holds
};

}  // namespace

struct HttpServer::Impl {
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  std::vector<std::thread> threads;
  std::atomic<bool> stopped{false};
  uint16_t port = 0;

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (stopped.load()) return;
      if (!ec) {
        if (shared->connections.load() >= shared->options.max_connections) {
          beast::error_code ignored;
          socket.close(ignored);
        } else {
          std::make_shared<Connection>(std::move(socket), shared)->start();
        }
      } else if (ec == asio::error::operation_aborted) {
        return;
      } else if (ec == asio::error::no_descriptors) {
        // Out of file descriptors: back off briefly instead of spinning.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      accept();
    });
  }
};

HttpServer::HttpServer(HttpServerOptions options, Handler handler) : impl_(new Impl) {
  impl_->shared->options = std::move(options);
  impl_->shared->handler = std::move(handler);
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  const auto& o = impl_->shared->options;
  try {
    tcp::resolver resolver(impl_->ioc);
    const auto results = resolver.resolve(o.host, std::to_string(o.port), tcp::resolver::passive);
    const tcp::endpoint endpoint = results.begin()->endpoint();
    impl_->acceptor.open(endpoint.protocol());
    impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor.bind(endpoint);
    impl_->acceptor.listen(asio::socket_base::max_listen_connections);
    impl_->port = impl_->acceptor.local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    throw Error(ErrorCode::kIo, "cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " + e.what());
  }
  impl_->accept();
  for (int i = 0; i < std::max(1, o.io_threads); ++i) impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::stop() {
  if (impl_->stopped.exchange(true)) return;
  asio::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

}  // namespace edgerun::serve

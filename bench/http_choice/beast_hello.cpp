#include <utility>
// Trivial async Beast server: GET anything -> 200 "ok". One io_context, N threads.
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <iostream>
#include <memory>
#include <thread>
namespace beast = boost::beast; namespace http = beast::http; namespace asio = boost::asio;
using tcp = asio::ip::tcp;
struct Conn : std::enable_shared_from_this<Conn> {
  beast::tcp_stream s; beast::flat_buffer buf; http::request<http::string_body> req; http::response<http::string_body> res;
  explicit Conn(tcp::socket so) : s(std::move(so)) {}
  void read() { req = {}; s.expires_after(std::chrono::seconds(5));
    http::async_read(s, buf, req, [self = shared_from_this()](beast::error_code ec, size_t) { if (ec) return; self->write(); }); }
  void write() { res = {}; res.result(http::status::ok); res.version(req.version()); res.keep_alive(req.keep_alive());
    res.set(http::field::content_type, "text/plain"); res.body() = "ok"; res.prepare_payload();
    http::async_write(s, res, [self = shared_from_this()](beast::error_code ec, size_t) { if (ec) return; if (!self->res.keep_alive()) return; self->read(); }); }
};
void accept(tcp::acceptor& a) { a.async_accept([&a](beast::error_code ec, tcp::socket so) { if (!ec) std::make_shared<Conn>(std::move(so))->read(); accept(a); }); }
int main(int argc, char** argv) { int threads = argc > 2 ? atoi(argv[2]) : 1; asio::io_context ioc(threads);
  tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), (unsigned short)atoi(argv[1])}); accept(a);
  std::vector<std::thread> t; for (int i = 1; i < threads; ++i) t.emplace_back([&] { ioc.run(); }); ioc.run(); }

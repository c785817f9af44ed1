#include <httplib.h>
int main(int argc, char** argv) { httplib::Server s; s.Get(".*", [](const httplib::Request&, httplib::Response& r) { r.set_content("ok", "text/plain"); });
  s.listen("127.0.0.1", atoi(argv[1])); }

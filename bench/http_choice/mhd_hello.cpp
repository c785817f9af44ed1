#include <microhttpd.h>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
static MHD_Result h(void*, MHD_Connection* c, const char*, const char*, const char*, const char*, size_t*, void**) {
  static char ok[] = "ok"; MHD_Response* r = MHD_create_response_from_buffer(2, ok, MHD_RESPMEM_PERSISTENT);
  MHD_Result ret = MHD_queue_response(c, 200, r); MHD_destroy_response(r); return ret; }
int main(int argc, char** argv) { int threads = argc > 2 ? atoi(argv[2]) : 1;
  MHD_Daemon* d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, atoi(argv[1]), nullptr, nullptr, &h, nullptr,
    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_END);
  if (!d) return 1; pause(); }

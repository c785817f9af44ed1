// libFuzzer target: arbitrary bytes as a .npy file parse or fail with an Error.
#include <cstddef>
#include <cstdint>

#include "edgerun/edgerun.h"
#include "edgerun/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    edgerun::parse_npy(data, size);
  } catch (const edgerun::Error&) {
  }
  return 0;
}

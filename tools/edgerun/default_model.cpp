#include "tools/edgerun/default_model.h"

// The model bytes are assembled straight into read-only data; EDGERUN_DEFAULT_MODEL is its path.
#define EDGERUN_STR2(x) #x
#define EDGERUN_STR(x) EDGERUN_STR2(x)
__asm__(".section .rodata\n"
        ".balign 64\n"
        ".global edgerun_default_model_begin\n"
        "edgerun_default_model_begin:\n"
        ".incbin \"" EDGERUN_STR(EDGERUN_DEFAULT_MODEL) "\"\n"
        ".global edgerun_default_model_end\n"
        "edgerun_default_model_end:\n"
        ".previous\n");

extern "C" const unsigned char edgerun_default_model_begin[];
extern "C" const unsigned char edgerun_default_model_end[];

namespace edgerun {
const void* default_model_data() { return edgerun_default_model_begin; }
size_t default_model_size() { return static_cast<size_t>(edgerun_default_model_end - edgerun_default_model_begin); }
}  // namespace edgerun

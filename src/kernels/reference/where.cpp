// Where: picks X where the condition is true and Y elsewhere, broadcasting all three inputs.
#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

class Where final : public Kernel {
 public:
  Where(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kBool)
      ctx.fail(std::string("condition has dtype ") + dtype_name(ctx.input_dtype(0)) + ", expected bool");
    const DType t = common_input_dtype(ctx, 1, 2);
    const Shape& c = ctx.input_shape(0);
    const Shape& x = ctx.input_shape(1);
    const Shape& y = ctx.input_shape(2);
    const Shape out = broadcast_or_fail(ctx, {c, x, y});
    plan_.init(out, {&c, &x, &y});
    ctx.set_output(0, t, out);
  }

  void run(RunContext& ctx) override {
    const bool* cond = ctx.input(0).data<bool>();
    dispatch_dtype<kAll>(ctx.output(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* xs = ctx.input(1).data<T>();
      const T* ys = ctx.input(2).data<T>();
      T* out = ctx.output(0).data<T>();
      const int64_t n = plan_.inner;
      for (int64_t r = 0; r < plan_.rows; ++r) {
        const auto off = plan_.row_offsets(r);
        const bool* c = cond + off[0];
        const T* x = xs + off[1];
        const T* y = ys + off[2];
        T* o = out + r * n;
        const int64_t sc = plan_.contiguous[0], sx = plan_.contiguous[1], sy = plan_.contiguous[2];
        if (sc && sx && sy) {
          for (int64_t i = 0; i < n; ++i) o[i] = c[i] ? x[i] : y[i];
        } else {
          for (int64_t i = 0; i < n; ++i) o[i] = c[i * sc] ? x[i * sx] : y[i * sy];
        }
      }
    });
  }

 private:
  BroadcastPlan<3> plan_;
};

}  // namespace

EDGERUN_REGISTER_KERNEL("Where", Where);

}  // namespace edgerun

// Det: determinants of the square matrices in the last two dims, by LU decomposition with partial
// pivoting in double precision.
#include <cmath>

#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Det final : public Kernel {
 public:
  Det(const Node& node, int64_t opset) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    const DType dtype = ctx.input_dtype(0);
    if (!dispatch_dtype<kFloats>(dtype, [](auto) {})) ctx.fail(std::string("X must be a float type, got ") + dtype_name(dtype));
    if (in.size() < 2 || in[in.size() - 1] != in[in.size() - 2])
      ctx.fail("X must be [*, M, M], got shape " + shape_str(in));
    n_ = in.back();
    ctx.request_scratch(static_cast<size_t>(n_ * n_) * sizeof(double));
    ctx.set_output(0, dtype, Shape(in.begin(), in.end() - 2));
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    double* a = static_cast<double*>(ctx.scratch());
    const int64_t n = n_, matrices = out.numel();
    dispatch_dtype<kFloats>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* x = in.data<T>();
      T* y = out.data<T>();
      for (int64_t m = 0; m < matrices; ++m) {
        for (int64_t i = 0; i < n * n; ++i) a[i] = to_double(x[m * n * n + i]);
        double det = 1.0;
        for (int64_t c = 0; c < n && det != 0.0; ++c) {
          int64_t pivot = c;
          for (int64_t r = c + 1; r < n; ++r)
            if (std::fabs(a[r * n + c]) > std::fabs(a[pivot * n + c])) pivot = r;
          if (a[pivot * n + c] == 0.0) {
            det = 0.0;
            break;
          }
          if (pivot != c) {
            for (int64_t j = 0; j < n; ++j) std::swap(a[c * n + j], a[pivot * n + j]);
            det = -det;
          }
          const double p = a[c * n + c];
          det *= p;
          for (int64_t r = c + 1; r < n; ++r) {
            const double f = a[r * n + c] / p;
            for (int64_t j = c + 1; j < n; ++j) a[r * n + j] -= f * a[c * n + j];
          }
        }
        if constexpr (std::is_same_v<T, double>) y[m] = det;
        else y[m] = T(static_cast<float>(det));
      }
    });
  }

 private:
  template <typename T>
  static double to_double(const T& v) {
    if constexpr (std::is_same_v<T, double>) return v;
    else return static_cast<float>(v);
  }

  int64_t n_ = 0;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Det", Det);
}  // namespace edgerun

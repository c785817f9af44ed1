// Activation ranges for static quantization: observed extremes, histograms, and the three ways of
// choosing a range from them (min-max, percentile, entropy, least squared error).
#pragma once
#include <cstdint>
#include <vector>

#include "edgerun/compress.h"

namespace edgerun {

// Scale and zero point of asymmetric int8 quantization: q = clamp(round(x / scale) + zero_point).
struct QuantParams {
  float scale = 1;
  int8_t zero_point = 0;
};
// The int8 parameters covering [lo, hi] widened to include 0, so that zero is exact.
QuantParams int8_params(float lo, float hi);

// Statistics of one tensor over all calibration samples. Pass 1 observes extremes; pass 2 (only for
// percentile and entropy) fills a histogram over the pass-1 range.
class TensorStats {
 public:
  static constexpr int kBins = 2048;
  void observe_range(const float* x, int64_t n);
  void begin_histogram();
  void observe_histogram(const float* x, int64_t n);
  bool has_histogram() const { return !hist_.empty(); }
  float min() const { return min_; }
  float max() const { return max_; }
  // The calibrated range under `method`.
  void range(CalibrationMethod method, double percentile, float* lo, float* hi) const;

 private:
  float min_ = 0, max_ = 0;
  bool seen_ = false;
  std::vector<double> hist_;  // over [min_, max_]
};

// The KL-divergence-minimizing clipping threshold for a histogram of |x| with bins of `bin_width`,
// quantized to `levels` levels. Exposed for tests.
float entropy_threshold(const std::vector<double>& abs_hist, float bin_width, int levels);

// The range [lo, hi] (containing 0) with the least expected squared error of int8 quantization over a
// histogram whose bin b covers first + [b, b + 1) * bin_width: clipping error outside, rounding error
// (step^2 / 12 per value) inside. Exposed for tests.
void mse_range(const std::vector<double>& hist, float first, float bin_width, float* lo, float* hi);

}  // namespace edgerun

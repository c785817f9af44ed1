#include "quant/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "edgerun/error.h"

namespace edgerun {

QuantParams int8_params(float lo, float hi) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  QuantParams p;
  if (!(hi - lo > 0)) return p;  // constant zero tensor: any scale represents it exactly
  p.scale = (hi - lo) / 255.0f;
  const float zp = std::nearbyint(-128.0f - lo / p.scale);
  p.zero_point = static_cast<int8_t>(std::clamp(zp, -128.0f, 127.0f));
  return p;
}

void TensorStats::observe_range(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (!std::isfinite(v)) throw Error(ErrorCode::kInvalidArgument, "non-finite value in an activation");
    if (!seen_) {
      min_ = max_ = v;
      seen_ = true;
    }
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
}

void TensorStats::begin_histogram() { hist_.assign(kBins, 0.0); }

void TensorStats::observe_histogram(const float* x, int64_t n) {
  const float width = (max_ - min_) / kBins;
  if (!(width > 0)) {
    hist_[0] += static_cast<double>(n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int b = static_cast<int>((x[i] - min_) / width);
    hist_[std::clamp(b, 0, kBins - 1)] += 1;
  }
}

float entropy_threshold(const std::vector<double>& abs_hist, float bin_width, int levels) {
  const int bins = static_cast<int>(abs_hist.size());
  if (bins <= levels) return bins * bin_width;
  double best_kl = std::numeric_limits<double>::infinity();
  int best = bins;
  std::vector<double> p, q;
  for (int i = levels; i <= bins; ++i) {
    // Reference: the first i bins, with the clipped tail folded into the last one.
    p.assign(abs_hist.begin(), abs_hist.begin() + i);
    double tail = 0;
    for (int k = i; k < bins; ++k) tail += abs_hist[k];
    p[i - 1] += tail;
    // Candidate: the first i bins (without the tail) merged into `levels` groups, each group's mass
    // spread over the bins that are non-empty in the reference; clipping shows up as missing mass.
    q.assign(i, 0.0);
    for (int g = 0; g < levels; ++g) {
      const int begin = static_cast<int>(static_cast<int64_t>(g) * i / levels);
      const int end = static_cast<int>(static_cast<int64_t>(g + 1) * i / levels);
      double mass = 0;
      int nonzero = 0;
      for (int k = begin; k < end; ++k) {
        mass += abs_hist[k];
        nonzero += p[k] > 0;
      }
      if (nonzero == 0) continue;
      for (int k = begin; k < end; ++k)
        if (p[k] > 0) q[k] = mass / nonzero;
    }
    double sp = 0, sq = 0;
    for (int k = 0; k < i; ++k) sp += p[k], sq += q[k];
    if (sp <= 0 || sq <= 0) continue;
    double kl = 0;
    for (int k = 0; k < i; ++k) {
      if (p[k] <= 0) continue;
      const double pk = p[k] / sp, qk = q[k] / sq;
      kl += pk * std::log(pk / std::max(qk, 1e-12));
    }
    if (kl < best_kl) {
      best_kl = kl;
      best = i;
    }
  }
  return best * bin_width;
}

void mse_range(const std::vector<double>& hist, float first, float bin_width, float* lo, float* hi) {
  // Prefix sums of count, sum and sum of squares over bin centres: the clipping error of every
  // candidate range is then a few differences, not a pass over the histogram.
  const int bins = static_cast<int>(hist.size());
  std::vector<double> n(bins + 1, 0.0), s1(bins + 1, 0.0), s2(bins + 1, 0.0);
  for (int b = 0; b < bins; ++b) {
    const double c = first + (b + 0.5) * bin_width;
    n[b + 1] = n[b] + hist[b];
    s1[b + 1] = s1[b] + hist[b] * c;
    s2[b + 1] = s2[b] + hist[b] * c * c;
  }
  // Sum over bins [b, e) of (c - t)^2.
  auto squared_distance = [&](int b, int e, double t) {
    const double cnt = n[e] - n[b], sum = s1[e] - s1[b], sq = s2[e] - s2[b];
    return sq - 2 * t * sum + t * t * cnt;
  };
  // Candidate bounds on bin edges, every `stride` bins; both include 0 as int8_params requires.
  const int stride = std::max(1, bins / 512);
  double best = std::numeric_limits<double>::infinity();
  *lo = first;
  *hi = first + bins * bin_width;
  for (int a = 0; a < bins; a += stride) {
    const double l = std::min(0.0, first + static_cast<double>(a) * bin_width);
    if (a > 0 && l == 0.0) break;  // bounds above zero are all the same as zero
    for (int e = bins; e > a; e -= stride) {
      const double h = std::max(0.0, first + static_cast<double>(e) * bin_width);
      const double step = (h - l) / 255.0;
      const double inside = n[e] - n[a];
      const double err = squared_distance(0, a, l) + squared_distance(e, bins, h) + inside * step * step / 12.0;
      if (err < best) {
        best = err;
        *lo = static_cast<float>(l);
        *hi = static_cast<float>(h);
      }
      if (h == 0.0) break;
    }
  }
}

void TensorStats::range(CalibrationMethod method, double percentile, float* lo, float* hi) const {
  *lo = min_;
  *hi = max_;
  if (method == CalibrationMethod::kMinMax || hist_.empty() || !(max_ > min_)) return;
  const float width = (max_ - min_) / kBins;
  double total = 0;
  for (double h : hist_) total += h;
  if (total <= 0) return;
  if (method == CalibrationMethod::kPercentile) {
    const double tail = total * (100.0 - percentile) / 100.0;
    double acc = 0;
    int b = 0;
    for (; b < kBins && acc + hist_[b] <= tail; ++b) acc += hist_[b];
    if (min_ < 0) *lo = min_ + b * width;
    acc = 0;
    b = kBins - 1;
    for (; b >= 0 && acc + hist_[b] <= tail; --b) acc += hist_[b];
    if (max_ > 0) *hi = min_ + (b + 1) * width;
    return;
  }
  if (method == CalibrationMethod::kMse) {
    mse_range(hist_, min_, width, lo, hi);
    return;
  }
  // Entropy: fold the histogram onto |x| and find the threshold there.
  const float amax = std::max(std::fabs(min_), std::fabs(max_));
  const float abs_width = amax / kBins;
  std::vector<double> folded(kBins, 0.0);
  for (int b = 0; b < kBins; ++b) {
    const float center = std::fabs(min_ + (b + 0.5f) * width);
    folded[std::min(kBins - 1, static_cast<int>(center / abs_width))] += hist_[b];
  }
  // Non-negative tensors (after Relu) use all 256 levels on one side.
  const float t = entropy_threshold(folded, abs_width, min_ >= 0 ? 256 : 128);
  *lo = std::max(min_, -t);
  *hi = std::min(max_, t);
}

}  // namespace edgerun

#include "runtime/run_mode_chooser.h"

#include <algorithm>

namespace edgerun {

void RunModeChooser::Recent::add(double s) {
  seconds[static_cast<size_t>(next)] = s;
  next = (next + 1) % 3;
  count = std::min(count + 1, 3);
}

double RunModeChooser::Recent::median() const {
  const double a = seconds[0], b = seconds[1], c = seconds[2];
  if (count < 3) return count == 0 ? 0 : count == 1 ? a : (a + b) / 2;
  return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

bool RunModeChooser::pool_contested() const {
  return kept_ == Mode::kPooled && kept_runs_.count == 3 && kept_runs_.median() > kContestedRatio * fastest_pooled_;
}

void RunModeChooser::forget() { *this = RunModeChooser(); }

void RunModeChooser::end_trial(bool won, double other_seconds) {
  const Step step = step_;
  step_ = Step::kNone;
  since_trial_ = 0;
  if (won) {
    kept_ = other(kept_);
    kept_runs_.clear();
    kept_runs_.add(first_other_);
    kept_runs_.add(other_seconds);
    last_kept_ = other_seconds;
    gap_ = kFirstTry + 1;  // the mode just left is tried again soon, in case the change was brief
    other_at_trial_ = std::min(before_trial_, last_kept_);
    return;
  }
  // A try that lost by far is not worth repeating soon: the gap grows faster.
  const int max_gap = kept_ == Mode::kPooled ? kMaxGapPooled : kMaxGapSerial;
  gap_ = std::min(max_gap, gap_ * (other_seconds > 1.3 * std::min(before_trial_, last_kept_) ? 16 : 4));
  other_at_trial_ = step == Step::kSecondOther ? std::min(first_other_, other_seconds) : other_seconds;
}

void RunModeChooser::record(Mode mode, double seconds) {
  if (skip_ > 0) {
    --skip_;
    return;
  }
  if (mode != next()) return;  // not the mode asked for: it says nothing about the kept mode or the try
  if (mode == Mode::kPooled && (fastest_pooled_ == 0 || seconds < fastest_pooled_)) fastest_pooled_ = seconds;
  switch (step_) {
    case Step::kFirstOther:
      first_other_ = seconds;
      if (seconds < kWinRatio * before_trial_) step_ = Step::kKeptBetween;
      else end_trial(false, seconds);
      return;
    case Step::kSecondOther:
      end_trial(seconds < kWinRatio * std::min(before_trial_, last_kept_), seconds);
      return;
    case Step::kKeptBetween:
      step_ = Step::kSecondOther;
      break;
    case Step::kNone:
      ++since_trial_;
      break;
  }
  kept_runs_.add(seconds);
  last_kept_ = seconds;
  if (step_ != Step::kNone) return;
  const bool due = since_trial_ >= gap_ || (since_trial_ >= kContestedGap && pool_contested());
  const bool drifted = other_at_trial_ > 0 && kept_runs_.count == 3 && kWinRatio * kept_runs_.median() > other_at_trial_ &&
                       since_trial_ >= std::max(kMinDriftGap, gap_ / 8);
  if (due || drifted) {
    step_ = Step::kFirstOther;
    before_trial_ = seconds;
  }
}

}  // namespace edgerun

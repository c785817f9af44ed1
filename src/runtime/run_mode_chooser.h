// Chooses, run by run, whether a model run uses the thread pool's workers or the calling thread alone.
//
// On an idle machine two threads are faster. When other processes hold the cores, the scheduler parks a
// worker for a whole time slice (about 4 ms here) in the middle of a loop, every loop waits for it, and
// one thread is faster: mobilenet_v2 at two threads took 1.1-1.5x the time of one beside one busy
// process. Which of the two holds cannot be seen from inside a run: a run that was slow because a worker
// stalled and a run that was slow because the caller itself lost its core look the same. So the chooser
// times whole runs. It keeps one mode and now and then tries the other, as other / kept / other: the
// other mode is taken when both of its runs beat the kept runs on either side of the first (a burst of
// slow runs on a noisy host then does not switch it). Tries come right after the first runs, early
// when the kept runs grow slower than the other mode was, and otherwise at intervals that grow while
// the tries lose (so an idle machine pays about one slow run in a few hundred).
//
// Pure bookkeeping: no clock, no threads (ThreadPool times the runs and asks before each one).
#pragma once
#include <array>

namespace edgerun {

class RunModeChooser {
 public:
  enum class Mode { kPooled, kSerial };

  // The mode for the run about to start.
  Mode next() const { return step_ == Step::kFirstOther || step_ == Step::kSecondOther ? other(kept_) : kept_; }
  // A run in `mode` took `seconds`. The first kSkippedRuns after construction or forget() are not
  // counted: they plan, touch fresh memory and fill the caches. A run in another mode than next() said
  // is ignored.
  void record(Mode mode, double seconds);
  // The runs so far say nothing about the next ones (the input shapes changed).
  void forget();

  Mode kept() const { return kept_; }

  static constexpr int kSkippedRuns = 2;
  // The other mode is taken when each of its two runs takes under kWinRatio x the faster of the kept
  // runs before and between them.
  static constexpr double kWinRatio = 0.95;
  // Kept runs before the first try, and the most between two tries (pooled kept / serial kept: the pool
  // is tried back sooner, since an idle machine loses about half of every run until it is).
  static constexpr int kFirstTry = 1, kMaxGapPooled = 256, kMaxGapSerial = 32;
  // A try starts early, after max(kMinDriftGap, gap / 8) kept runs, once kWinRatio x the median of the
  // last three kept runs exceeds the other mode's faster run at the last try (so a busy process that
  // arrives after hours of idle runs is noticed within 32 runs).
  static constexpr int kMinDriftGap = 4;
  // With the pool kept, while the median of the last three kept runs exceeds kContestedRatio x the
  // fastest pooled run so far, other processes hold the cores: one thread is then tried every
  // kContestedGap kept runs. Beside two busy processes on two cores, the calling thread alone spends
  // streaks of runs on a core of its own and others sharing one; a try in a shared streak loses by far
  // and would otherwise put the next try hundreds of runs away.
  static constexpr double kContestedRatio = 1.25;
  static constexpr int kContestedGap = 8;

 private:
  static Mode other(Mode m) { return m == Mode::kPooled ? Mode::kSerial : Mode::kPooled; }
  enum class Step { kNone, kFirstOther, kKeptBetween, kSecondOther };

  // The last three durations of the kept mode.
  struct Recent {
    std::array<double, 3> seconds{};
    int count = 0, next = 0;
    void add(double s);
    double median() const;
    void clear() { count = next = 0; }
  };
  void end_trial(bool won, double other_seconds);
  bool pool_contested() const;

  Recent kept_runs_;
  Mode kept_ = Mode::kPooled;
  int skip_ = kSkippedRuns;
  Step step_ = Step::kNone;
  double last_kept_ = 0;       // the last kept run
  double before_trial_ = 0;    // the kept run before the try
  double first_other_ = 0;     // the try's first run
  int since_trial_ = 0;        // kept runs since the last try
  int gap_ = kFirstTry;        // kept runs before the next try
  double other_at_trial_ = 0;  // the other mode's faster run at the last try (0: none yet)
  double fastest_pooled_ = 0;  // the fastest counted pooled run (0: none yet)
};

}  // namespace edgerun

// RunModeChooser against simulated machines: run times per mode that change over time, with noise.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "runtime/run_mode_chooser.h"

using edgerun::RunModeChooser;
using Mode = RunModeChooser::Mode;

namespace {

// Times of one run in each mode, given the run's index.
struct Machine {
  std::function<double(int)> pooled, serial;
};

struct Tally {
  int serial = 0;
  std::vector<Mode> modes;
};

// Runs `runs` runs from `first`, each in the mode the chooser asks for, and records it.
Tally drive(RunModeChooser& chooser, const Machine& m, int first, int runs) {
  Tally t;
  for (int i = first; i < first + runs; ++i) {
    const Mode mode = chooser.next();
    chooser.record(mode, mode == Mode::kPooled ? m.pooled(i) : m.serial(i));
    t.modes.push_back(mode);
    if (mode == Mode::kSerial) ++t.serial;
  }
  return t;
}

// Run times on this machine's two vCPUs (mobilenet_v2): idle, two threads 2.9 ms and one 4.5 ms;
// with a busy process, two threads 6.5 ms and one 4.5 ms. Noise: +-10 % uniform.
Machine noisy(std::mt19937& rng, double pooled_ms, double serial_ms) {
  auto jitter = [&rng](double ms) { return ms * std::uniform_real_distribution<double>(0.9, 1.1)(rng); };
  return {[=](int) mutable { return jitter(pooled_ms); }, [=](int) mutable { return jitter(serial_ms); }};
}

constexpr Mode P = Mode::kPooled, S = Mode::kSerial;

std::vector<Mode> first_modes(const Tally& t, size_t n) { return {t.modes.begin(), t.modes.begin() + n}; }

}  // namespace

TEST(RunModeChooser, IdleMachineKeepsThePoolAndTriesOneThreadRarely) {
  std::mt19937 rng(1);
  RunModeChooser chooser;
  const Tally t = drive(chooser, noisy(rng, 2.9, 4.5), 0, 1000);
  EXPECT_EQ(chooser.kept(), Mode::kPooled);
  // The first two runs are not counted; the first try is the fourth run.
  EXPECT_EQ(first_modes(t, 5), (std::vector<Mode>{P, P, P, S, P}));
  // Tries after 1, 16 and then every 256 kept runs, each lost at its first run.
  EXPECT_LE(t.serial, 6);
  EXPECT_GE(t.serial, 3);
}

TEST(RunModeChooser, BusyMachineSwitchesToOneThreadAtOnce) {
  std::mt19937 rng(2);
  RunModeChooser chooser;
  const Tally t = drive(chooser, noisy(rng, 6.5, 4.5), 0, 1000);
  EXPECT_EQ(chooser.kept(), Mode::kSerial);
  // Try: serial, pooled, serial; then serial is kept, and the pool is tried back after two runs.
  EXPECT_EQ(first_modes(t, 9), (std::vector<Mode>{P, P, P, S, P, S, S, S, P}));
  // The pool is tried back at most every 32 runs, one run per lost try.
  const int pooled = 1000 - t.serial;
  EXPECT_LE(pooled, 3 + 1000 / 32 + 2);
  EXPECT_GE(pooled, 1000 / 33);
}

TEST(RunModeChooser, FollowsTheMachineWhenOtherProcessesComeAndGo) {
  std::mt19937 rng(3);
  RunModeChooser chooser;
  // Idle, then a busy process for 500 runs, then idle again.
  drive(chooser, noisy(rng, 2.9, 4.5), 0, 600);
  ASSERT_EQ(chooser.kept(), Mode::kPooled);
  // Long idle has stretched the gap between tries to 256 runs; slower pooled runs start one early.
  const Tally busy = drive(chooser, noisy(rng, 6.5, 4.5), 600, 500);
  EXPECT_EQ(chooser.kept(), Mode::kSerial);
  int first_serial_kept = -1;
  for (size_t i = 0; i + 3 < busy.modes.size(); ++i)
    if (busy.modes[i] == Mode::kSerial && busy.modes[i + 1] == Mode::kSerial && busy.modes[i + 2] == Mode::kSerial &&
        busy.modes[i + 3] == Mode::kSerial) {
      first_serial_kept = static_cast<int>(i);
      break;
    }
  EXPECT_GE(first_serial_kept, 0);
  EXPECT_LE(first_serial_kept, 40);  // within max(4, 256 / 8) runs of the change, and the try
  EXPECT_GE(busy.serial, 430);

  const Tally idle = drive(chooser, noisy(rng, 2.9, 4.5), 1100, 500);
  EXPECT_EQ(chooser.kept(), Mode::kPooled);
  // Back on the pool within the 32 runs between tries of it, and the try.
  int last_serial = -1;
  for (size_t i = 0; i < idle.modes.size(); ++i)
    if (idle.modes[i] == Mode::kSerial && (i + 1 >= idle.modes.size() || idle.modes[i + 1] == Mode::kSerial))
      last_serial = static_cast<int>(i);
  EXPECT_LE(last_serial, 36);
  EXPECT_LE(idle.serial, 36 + 6);
}

// A noisy host: now and then a burst of three runs at three times their time. A burst during the kept
// pool's runs must not hand the session to one thread for long.
TEST(RunModeChooser, BurstsOfSlowRunsDoNotSwitch) {
  std::mt19937 rng(4);
  auto burst = [](int i) { return i % 50 >= 20 && i % 50 < 23 ? 3.0 : 1.0; };
  Machine m{[&](int i) { return 2.9 * burst(i) * std::uniform_real_distribution<double>(0.95, 1.05)(rng); },
            [&](int i) { return 4.5 * burst(i) * std::uniform_real_distribution<double>(0.95, 1.05)(rng); }};
  RunModeChooser chooser;
  const Tally t = drive(chooser, m, 0, 1000);
  EXPECT_EQ(chooser.kept(), Mode::kPooled);
  EXPECT_LE(t.serial, 1000 / 20);  // a lost try (one run) per burst at most
}

// When both modes take the same time, either may be kept, but tries do not take many runs.
TEST(RunModeChooser, EqualModesSettle) {
  std::mt19937 rng(5);
  RunModeChooser chooser;
  const Tally t = drive(chooser, noisy(rng, 4.5, 4.5), 0, 2000);
  int switches = 0;
  for (size_t i = 1; i < t.modes.size(); ++i) switches += t.modes[i] != t.modes[i - 1];
  EXPECT_LE(switches, 2000 / 8);
}

TEST(RunModeChooser, ForgetStartsOver) {
  std::mt19937 rng(6);
  RunModeChooser chooser;
  drive(chooser, noisy(rng, 6.5, 4.5), 0, 100);
  ASSERT_EQ(chooser.kept(), Mode::kSerial);
  chooser.forget();
  EXPECT_EQ(chooser.kept(), Mode::kPooled);
  const Tally t = drive(chooser, noisy(rng, 2.9, 4.5), 0, 4);
  EXPECT_EQ(t.modes, (std::vector<Mode>{P, P, P, S}));
}

// Two busy processes on two cores: the modes are 8 % apart and single runs scatter by +-20 %. Tries
// win or lose by chance, yet the faster mode runs most of the time, whichever it is.
TEST(RunModeChooser, FindsTheFasterOfCloseModesInScatteredRuns) {
  for (const bool serial_faster : {true, false}) {
    std::mt19937 rng(7);
    auto scattered = [&rng](double ms) { return ms * std::uniform_real_distribution<double>(0.8, 1.2)(rng); };
    const double fast = 14.8, slow = 16.0;
    Machine m{[&](int) { return scattered(serial_faster ? slow : fast); },
              [&](int) { return scattered(serial_faster ? fast : slow); }};
    RunModeChooser chooser;
    const Tally t = drive(chooser, m, 0, 1000);
    const int faster_runs = serial_faster ? t.serial : 1000 - t.serial;
    EXPECT_GE(faster_runs, 700) << (serial_faster ? "serial" : "pooled") << " faster";
  }
}

// Two busy processes on two cores, as resnet18 saw them: the calling thread alone spends streaks of
// runs on a core of its own (13.5 ms) and streaks sharing one with a busy process (27 ms); the pool
// takes 15.5 ms, and now and then 1.6 times that. One thread is faster in the first streaks, the pool
// in the second. The tries that land in a shared streak lose by far, yet the chooser keeps trying one
// thread while the pool runs slower than it can, so the session's median run is near one thread's.
TEST(RunModeChooser, TakesOneThreadInStreaksOfACoreOfItsOwn) {
  std::mt19937 rng(8);
  std::vector<bool> own_core;
  for (bool own = true; own_core.size() < 2000; own = !own) {
    const int streak = own ? std::uniform_int_distribution<int>(10, 40)(rng) : std::uniform_int_distribution<int>(5, 30)(rng);
    own_core.insert(own_core.end(), static_cast<size_t>(streak), own);
  }
  auto near = [&rng](double ms) { return ms * std::uniform_real_distribution<double>(0.97, 1.05)(rng); };
  Machine m{[&](int) { return near(15.5) * (std::uniform_real_distribution<double>(0, 1)(rng) < 0.25 ? 1.6 : 1.0); },
            [&](int i) { return near(own_core[static_cast<size_t>(i)] ? 13.5 : 27.0); }};
  RunModeChooser chooser;
  const Tally t = drive(chooser, m, 0, 2000);
  int own_runs = 0, own_serial = 0;
  for (size_t i = 0; i < t.modes.size(); ++i)
    if (own_core[i]) {
      ++own_runs;
      own_serial += t.modes[i] == Mode::kSerial;
    }
  // 50-63 % over twelve seeds; 8-26 % without the tries while the pool is contested.
  EXPECT_GE(own_serial, own_runs * 2 / 5) << own_serial << " of " << own_runs << " runs with a core of its own on one thread";
}

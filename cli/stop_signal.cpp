#include "cli/stop_signal.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace sb::cli {
namespace {

// The program's one global: a signal handler can reach nothing else. Lock-free, so
// setting it is async-signal-safe; only the handler writes it.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

void on_stop_signal(int sig) {
  int expected = 0;
  if (!g_stop_signal.compare_exchange_strong(expected, sig)) _exit(128 + sig);  // the second signal
}

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // reads and writes in progress continue; the loop polls the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int stop_signal_received() { return g_stop_signal.load(std::memory_order_relaxed); }

int exit_status_for_signal(int signal) { return 128 + signal; }

}  // namespace sb::cli

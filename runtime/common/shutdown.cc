#include "runtime/common/shutdown.h"

#include <atomic>
#include <csignal>

namespace usp {

namespace {
std::atomic<bool> g_shutdown{false};
void OnSignal(int) { g_shutdown.store(true); }
}  // namespace

void InstallShutdownHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool ShutdownRequested() { return g_shutdown.load(std::memory_order_relaxed); }
void RequestShutdown() { g_shutdown.store(true); }

}  // namespace usp

#pragma once
// Child processes of `uspctl local`: spawned with their stdout/stderr appended
// to a log file, terminated with the parent (PR_SET_PDEATHSIG), stopped with
// SIGTERM then SIGKILL after a grace period.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace usp {

class ChildProcess {
 public:
  // argv[0] is the program path.
  static Result<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                    const std::string& log_path);

  pid_t pid() const { return pid_; }
  // Non-blocking. Returns the wait status once the process has exited.
  std::optional<int> Poll();
  bool running() const { return !exit_status_.has_value(); }
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the wait status.
  int Stop(std::chrono::milliseconds grace);

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

// "exited with code 3", "killed by signal 9 (Killed)".
std::string DescribeWaitStatus(int status);

}  // namespace usp

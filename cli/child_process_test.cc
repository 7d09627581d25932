#include "cli/child_process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace usp {
namespace {

std::string TempLog() {
  char path[] = "/tmp/usp-child-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  return path;
}

TEST(ChildProcess, CapturesOutputAndExitCode) {
  std::string log = TempLog();
  auto child = ChildProcess::Spawn({"/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"}, log);
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  for (int i = 0; i < 500 && !child->Poll(); ++i) usleep(10000);
  // Stop() after a natural exit reports that exit, not a kill.
  int status = child->Stop(std::chrono::seconds(5));
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  EXPECT_EQ(DescribeWaitStatus(status), "exited with code 3");
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "hello\noops\n");
  std::remove(log.c_str());
}

TEST(ChildProcess, StopEscalatesToSigkillWhenSigtermIsIgnored) {
  std::string log = TempLog();
  auto child = ChildProcess::Spawn({"/bin/sh", "-c", "trap '' TERM; echo up; sleep 30"}, log);
  ASSERT_TRUE(child.ok());
  // Wait until the trap is installed.
  for (int i = 0; i < 100; ++i) {
    std::ifstream in(log);
    std::string line;
    if (std::getline(in, line) && line == "up") break;
    usleep(20000);
  }
  int status = child->Stop(std::chrono::milliseconds(200));
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_FALSE(child->running());
  std::remove(log.c_str());
}

TEST(ChildProcess, PollReportsAProcessKilledFromOutside) {
  std::string log = TempLog();
  auto child = ChildProcess::Spawn({"/bin/sleep", "30"}, log);
  ASSERT_TRUE(child.ok());
  EXPECT_FALSE(child->Poll().has_value());
  kill(child->pid(), SIGKILL);
  std::optional<int> status;
  for (int i = 0; i < 200 && !status; ++i) {
    status = child->Poll();
    usleep(10000);
  }
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(DescribeWaitStatus(*status), "killed by signal 9 (Killed)");
  std::remove(log.c_str());
}

TEST(ChildProcess, SpawnFailsWhenTheLogCannotBeOpened) {
  auto child = ChildProcess::Spawn({"/bin/true"}, "/nonexistent-dir/x.log");
  EXPECT_FALSE(child.ok());
}

}  // namespace
}  // namespace usp

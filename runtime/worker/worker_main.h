#pragma once
namespace usp {
// `usp-runtime worker ...`; argv[0] is "worker". Returns the process exit code.
int RunWorker(int argc, char** argv);
}  // namespace usp

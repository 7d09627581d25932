#pragma once
namespace usp {
// `usp-runtime serve ...`; argv[0] is "serve". Returns the process exit code.
int RunServe(int argc, char** argv);
}  // namespace usp

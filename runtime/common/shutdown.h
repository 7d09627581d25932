#pragma once
// Process-wide shutdown flag set by SIGINT/SIGTERM.

namespace usp {

// Installs handlers for SIGINT and SIGTERM that set the flag (and ignores SIGPIPE).
void InstallShutdownHandlers();
bool ShutdownRequested();
void RequestShutdown();

}  // namespace usp

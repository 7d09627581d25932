// `usp-runtime backfill`: the command line of RunBackfill (backfill.h).
#include <CLI/CLI.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>

#include "core/duration.h"
#include "core/event_time.h"
#include "runtime/batch/checkpoint.h"
#include "runtime/batch/backfill.h"
#include "runtime/batch/progress.h"
#include "runtime/common/logging.h"
#include "runtime/common/shutdown.h"

namespace usp {

namespace {

constexpr int kExitDifferences = 1;
constexpr int kExitError = 2;
constexpr int kExitInterrupted = 3;

// RFC 3339, epoch milliseconds, `now` or `now-DURATION` (relative to
// `run_ms`, the run's time: a CronJob backfills "the last day" with
// --from now-24h --to now, and a resumed run means the same range).
Result<int64_t> ParseTimeFlag(const std::string& flag, const std::string& text, int64_t run_ms) {
  if (text == "now") return run_ms;
  if (text.rfind("now-", 0) == 0) {
    auto d = ParseDurationMs(text.substr(4));
    if (!d.ok()) {
      return Status::InvalidArgument(flag + " " + text + ": " + d.status().message());
    }
    return run_ms - *d;
  }
  bool digits = !text.empty();
  for (char c : text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  if (digits) {
    try {
      return static_cast<int64_t>(std::stoll(text));
    } catch (const std::exception&) {
    }
  } else {
    auto t = ParseRfc3339Ms(text);
    if (t.ok()) return *t;
  }
  return Status::InvalidArgument(flag + " " + text +
                                 ": expected RFC 3339 (2026-11-22T10:00:00Z), epoch ms, now or "
                                 "now-DURATION (now-24h)");
}

}  // namespace

int RunBackfillCommand(int argc, char** argv) {
  BackfillOptions o;
  std::string from;
  std::string to;
  std::vector<std::string> props;
  int64_t version = -1;
  CLI::App app{
      "Run a resource's online code over historical input (the batch path) and write its rows "
      "as a newer version - or, with --compare, report how they differ from what the online "
      "path wrote. Dependencies (the UserSignals a UserSegment or SessionJob reads) run in the "
      "same process. Exit codes: 0 done/identical, 1 --compare found differences, 2 error, 3 "
      "interrupted (rerun with the same flags to continue).",
      "usp-runtime backfill"};
  app.add_option("--resources", o.resources, "CR YAML file or directory (as for uspctl local)")
      ->required();
  app.add_option("--job", o.job, "name of the resource whose rows are written")->required();
  app.add_option("--input", o.inputs,
                 "input file, repeatable: FILE = kcat -J envelopes (kcat -C -J -e -t TOPIC), "
                 "TOPIC=FILE = bare event JSON of TOPIC; .jsonl or .jsonl.gz");
  app.add_option("--brokers", o.brokers,
                 "Kafka bootstrap HOST:PORT: read --from/--to from the source topics (without "
                 "--input) and/or write with --to-topic");
  app.add_option("--from", from,
                 "start of the range, inclusive: RFC 3339, epoch ms, now or now-DURATION (relative "
                 "to the run's version: a resumed run reads the same range)");
  app.add_option("--to", to,
                 "end of the range, exclusive: as --from; the batch clock runs to it (timers due "
                 "before it fire)");
  app.add_option("-X", props, "librdkafka property key=value (repeatable)");
  app.add_flag("--to-topic", o.to_topic, "produce the rows to the job's output topic");
  app.add_option("--store-dir", o.store_dir,
                 "query-service store directory: write the rows there (the query service must "
                 "not be running on it), or compare with it (--compare)");
  app.add_option("--partitions", o.partitions,
                 "partition count of the topics [the store's, the source topics', or 8]");
  app.add_option("--checkpoint", o.checkpoint,
                 "checkpoint file (JSON): a rerun with the same flags continues, without "
                 "duplicating output");
  app.add_option("--version", version,
                 "version (epoch ms) of the rows written [now, at the first run; kept in the "
                 "checkpoint]");
  app.add_flag("--compare", o.compare,
               "write nothing: compare the batch result with --store-dir (parity report)");
  app.add_option("--report", o.report, "--compare: write the full report (JSON) to this file");
  app.add_option("--list", o.list, "--compare: entries printed per category [10]");
  app.add_option("--stop-after-rows", o.stop_after_rows,
                 "testing: stop as if interrupted after writing this many rows")
      ->group("Testing");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitError;
  }
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "usp-runtime backfill: %s\n", s.message().c_str());
    return kExitError;
  };
  // The run's time: the checkpoint's version when resuming, else --version,
  // else now (then also the version, so `now` and the rows' version agree).
  int64_t run_ms = version >= 0 ? version
                                : std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
  if (!o.checkpoint.empty()) {
    auto cp = ReadCheckpoint(o.checkpoint);
    if (cp.ok() && cp->has_value()) run_ms = (*cp)->version;
  }
  const bool relative = from.rfind("now", 0) == 0 || to.rfind("now", 0) == 0;
  if (relative && version < 0 && !o.version) o.version = run_ms;
  if (!from.empty()) {
    auto t = ParseTimeFlag("--from", from, run_ms);
    if (!t.ok()) return fail(t.status());
    o.from_ms = *t;
  }
  if (!to.empty()) {
    auto t = ParseTimeFlag("--to", to, run_ms);
    if (!t.ok()) return fail(t.status());
    o.to_ms = *t;
  }
  for (const std::string& p : props) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fail(Status::InvalidArgument("-X " + p + ": expected key=value"));
    }
    o.properties[p.substr(0, eq)] = p.substr(eq + 1);
  }
  if (version >= 0) o.version = version;
  o.tty = IsStderrTty();
  InitLogging("backfill", o.job);
  InstallShutdownHandlers();

  auto summary = RunBackfill(o);
  if (!summary.ok()) return fail(summary.status());
  if (summary->parity) {
    std::printf("%s", summary->parity->Summary(o.list).c_str());
    if (!o.report.empty()) std::printf("full report: %s\n", o.report.c_str());
  }
  std::printf("backfill %s: %s\n", o.job.c_str(), summary->Line().c_str());
  std::fflush(stdout);
  if (summary->interrupted) return kExitInterrupted;
  if (summary->parity && !summary->parity->identical()) return kExitDifferences;
  return 0;
}

}  // namespace usp

#pragma once
// `uspctl export`: the query store as JSON lines.
//
//   uspctl export --store-dir DIR [--kind signals|segments|sessions|all]
//                 [--name N ...] [--from TIME] [--to TIME] [--out FILE|-]
//
// One JSON object per line: "kind" ("signal" | "segment" | "session")
// followed by the record exactly as the output topics carry it
// (core/signal_record.h, core/segment/segment_record.h,
// core/session/session_record.h), so every line holds "user_id" and parses
// back with Parse*Record. Signal and session lines are the objects the query
// API lists; a segment line is the stored membership (the API's
// {"segment", "in_segment", "start", "expiration"} plus user_id, version
// and reason; `in_segment` as recorded: a membership whose expiration has
// passed is out).
//
// Only the newest version of each row is written (SignalStore::Scan*),
// kinds in the order signals, segments, sessions, each in key order. The
// store is opened read-only (SignalStore::OpenReadOnly), so an export runs
// beside the query service that owns the store; it sees the rows written up
// to its start.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/segment/segment_record.h"
#include "core/session/session_record.h"
#include "core/signal_record.h"
#include "core/status.h"
#include "runtime/store/signal_store.h"

namespace usp {

// The command line, as given.
struct ExportOptions {
  std::filesystem::path store_dir;
  std::string kind = "all";        // signals | segments | sessions | all
  std::vector<std::string> names;  // signal / segment / SessionJob names; empty = all
  std::string from;                // RFC 3339 or epoch ms, inclusive; empty = unbounded
  std::string to;                  // RFC 3339 or epoch ms, exclusive; empty = unbounded
  std::string out = "-";           // "-" = stdout; a name ending in ".gz" is gzipped
};

// What to export, checked.
struct ExportSelection {
  bool signals = true;
  bool segments = true;
  bool sessions = true;
  // Time filter: signals by event_time, segments by start, sessions by window_end.
  StoreScan scan;
};

// A --from / --to value: epoch ms (an integer) or RFC 3339. Errors name `flag`.
Result<int64_t> ParseExportTime(std::string_view text, std::string_view flag);

// Checks the flags. Errors name the flag (--kind, --from, --to, --name).
Result<ExportSelection> ParseExportSelection(const ExportOptions& options);

// One line ("kind" first, then the record's fields, then '\n'), appended.
void AppendExportLine(const SignalRecord& record, std::string* out);
void AppendExportLine(const SegmentRecord& record, std::string* out);
void AppendExportLine(const SessionRecord& record, std::string* out);

// Where the lines go.
class ExportSink {
 public:
  virtual ~ExportSink() = default;
  virtual Status Write(std::string_view bytes) = 0;
  // Flushes and, for a file, makes it visible under its name. No Write after.
  virtual Status Close() = 0;
};

// "-": stdout. Otherwise a file, written beside its name and renamed into
// place by Close() (an export that fails leaves no partial file); gzip when
// the name ends in ".gz". Errors name the path.
Result<std::unique_ptr<ExportSink>> OpenExportSink(const std::string& out);

struct ExportCounts {
  uint64_t signals = 0;
  uint64_t segments = 0;
  uint64_t sessions = 0;
  uint64_t total() const { return signals + segments + sessions; }
};

// Writes the selected rows of `store` to `sink` (Close() is the caller's).
// `progress`, when set, is called after every 4096 rows with the counts so far.
Result<ExportCounts> ExportRows(const SignalStore& store, const ExportSelection& selection,
                                ExportSink* sink,
                                const std::function<void(const ExportCounts&)>& progress = {});

// The whole command: checks the flags, opens the store read-only, exports,
// reports progress on stderr when it is a terminal (rows, rows/s) and a
// summary line at the end. Exit code: 0 done, 1 failed while exporting,
// 2 bad flags or no store.
int RunExport(const ExportOptions& options);

}  // namespace usp

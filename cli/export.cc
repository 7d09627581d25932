#include "cli/export.h"

#include <unistd.h>
#include <zlib.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>

#include "core/event_time.h"

namespace usp {

namespace {

namespace fs = std::filesystem;

// Every record JSON starts with '{': the kind goes right after it.
template <typename Record, typename AppendJson>
void AppendLine(const Record& record, AppendJson append_json, const char* kind_field,
                std::string* out) {
  out->push_back('{');
  out->append(kind_field);
  const size_t json_at = out->size();
  append_json(record, out);
  out->erase(json_at, 1);  // the record's own '{'
  out->push_back('\n');
}

class StdoutSink : public ExportSink {
 public:
  Status Write(std::string_view bytes) override {
    if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size()) {
      return Status::IoError("cannot write to stdout");
    }
    return Status::Ok();
  }
  Status Close() override {
    if (std::fflush(stdout) != 0) return Status::IoError("cannot write to stdout");
    return Status::Ok();
  }
};

// Writes `<path>.partial` and renames it to `path` on Close(); removes the
// partial file if never closed.
class FileSink : public ExportSink {
 public:
  FileSink(fs::path path, bool gzip) : path_(std::move(path)), gzip_(gzip) {
    partial_ = path_;
    partial_ += ".partial";
  }
  ~FileSink() override {
    if (file_ != nullptr) std::fclose(file_);
    if (gz_ != nullptr) gzclose(gz_);
    if (!closed_) {
      std::error_code ec;
      fs::remove(partial_, ec);
    }
  }

  Status Open() {
    if (gzip_) {
      gz_ = gzopen(partial_.c_str(), "wb6");
      if (gz_ == nullptr) return Status::IoError("cannot create " + partial_.string());
      gzbuffer(gz_, 1 << 17);
    } else {
      file_ = std::fopen(partial_.c_str(), "wb");
      if (file_ == nullptr) return Status::IoError("cannot create " + partial_.string());
    }
    return Status::Ok();
  }

  Status Write(std::string_view bytes) override {
    if (bytes.empty()) return Status::Ok();
    bool ok = gzip_ ? gzwrite(gz_, bytes.data(), static_cast<unsigned>(bytes.size())) ==
                          static_cast<int>(bytes.size())
                    : std::fwrite(bytes.data(), 1, bytes.size(), file_) == bytes.size();
    if (!ok) return Status::IoError("cannot write " + partial_.string());
    return Status::Ok();
  }

  Status Close() override {
    int rc = 0;
    if (gzip_) {
      rc = gzclose(gz_) == Z_OK ? 0 : -1;
      gz_ = nullptr;
    } else {
      rc = std::fclose(file_);
      file_ = nullptr;
    }
    if (rc != 0) return Status::IoError("cannot write " + partial_.string());
    std::error_code ec;
    fs::rename(partial_, path_, ec);
    if (ec) return Status::IoError("cannot rename " + partial_.string() + ": " + ec.message());
    closed_ = true;
    return Status::Ok();
  }

 private:
  fs::path path_;
  fs::path partial_;
  bool gzip_;
  bool closed_ = false;
  std::FILE* file_ = nullptr;
  gzFile gz_ = nullptr;
};

// Buffers lines and hands them to the sink in large writes.
class LineBuffer {
 public:
  explicit LineBuffer(ExportSink* sink) : sink_(sink) { buffer_.reserve(kFlushBytes + 4096); }
  std::string* buffer() { return &buffer_; }
  Status MaybeFlush() { return buffer_.size() >= kFlushBytes ? Flush() : Status::Ok(); }
  Status Flush() {
    Status s = sink_->Write(buffer_);
    buffer_.clear();
    return s;
  }

 private:
  static constexpr size_t kFlushBytes = 1 << 16;
  ExportSink* sink_;
  std::string buffer_;
};

}  // namespace

void AppendExportLine(const SignalRecord& record, std::string* out) {
  AppendLine(record, AppendSignalRecordJson, "\"kind\":\"signal\",", out);
}

void AppendExportLine(const SegmentRecord& record, std::string* out) {
  AppendLine(record, AppendSegmentRecordJson, "\"kind\":\"segment\",", out);
}

void AppendExportLine(const SessionRecord& record, std::string* out) {
  AppendLine(record, AppendSessionRecordJson, "\"kind\":\"session\",", out);
}

Result<int64_t> ParseExportTime(std::string_view text, std::string_view flag) {
  if (text.empty()) {
    return Status::InvalidArgument(std::string(flag) + ": empty (give epoch ms or RFC 3339)");
  }
  int64_t ms = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (ec == std::errc() && end == text.data() + text.size()) return ms;
  Result<int64_t> rfc3339 = ParseRfc3339Ms(text);
  if (rfc3339.ok()) return rfc3339;
  return Status::InvalidArgument(std::string(flag) + ": \"" + std::string(text) +
                                 "\" is neither epoch ms nor RFC 3339 (e.g. "
                                 "2026-11-22T10:00:00Z): " +
                                 rfc3339.status().message());
}

Result<ExportSelection> ParseExportSelection(const ExportOptions& options) {
  ExportSelection selection;
  if (options.kind == "signals") {
    selection.segments = selection.sessions = false;
  } else if (options.kind == "segments") {
    selection.signals = selection.sessions = false;
  } else if (options.kind == "sessions") {
    selection.signals = selection.segments = false;
  } else if (options.kind != "all") {
    return Status::InvalidArgument("--kind: \"" + options.kind +
                                   "\" is not one of signals, segments, sessions, all");
  }
  for (const std::string& name : options.names) {
    if (name.empty()) return Status::InvalidArgument("--name: must not be empty");
    selection.scan.names.insert(name);
  }
  if (!options.from.empty()) {
    Result<int64_t> from = ParseExportTime(options.from, "--from");
    if (!from.ok()) return from.status();
    selection.scan.start = *from;
  }
  if (!options.to.empty()) {
    Result<int64_t> to = ParseExportTime(options.to, "--to");
    if (!to.ok()) return to.status();
    selection.scan.end = *to;
  }
  if (selection.scan.start >= selection.scan.end) {
    return Status::InvalidArgument("--from must be before --to (the range is [from, to))");
  }
  return selection;
}

Result<std::unique_ptr<ExportSink>> OpenExportSink(const std::string& out) {
  if (out.empty()) return Status::InvalidArgument("--out: empty (give a file, or - for stdout)");
  if (out == "-") return std::unique_ptr<ExportSink>(std::make_unique<StdoutSink>());
  const bool gzip = out.size() > 3 && out.ends_with(".gz");
  auto sink = std::make_unique<FileSink>(fs::path(out), gzip);
  Status s = sink->Open();
  if (!s.ok()) return Status::IoError("--out: " + s.message());
  return std::unique_ptr<ExportSink>(std::move(sink));
}

Result<ExportCounts> ExportRows(const SignalStore& store, const ExportSelection& selection,
                                ExportSink* sink,
                                const std::function<void(const ExportCounts&)>& progress) {
  ExportCounts counts;
  LineBuffer lines(sink);
  Status write_status;  // the first write error stops the scan
  auto row_written = [&](uint64_t* count) {
    ++*count;
    if (progress && counts.total() % 4096 == 0) progress(counts);
    write_status = lines.MaybeFlush();
    return write_status.ok();
  };
  if (selection.signals) {
    USP_RETURN_IF_ERROR(store.ScanSignals(selection.scan, [&](const SignalRecord& record) {
      AppendExportLine(record, lines.buffer());
      return row_written(&counts.signals);
    }));
    USP_RETURN_IF_ERROR(write_status);
  }
  if (selection.segments) {
    USP_RETURN_IF_ERROR(store.ScanSegments(selection.scan, [&](const SegmentRecord& record) {
      AppendExportLine(record, lines.buffer());
      return row_written(&counts.segments);
    }));
    USP_RETURN_IF_ERROR(write_status);
  }
  if (selection.sessions) {
    USP_RETURN_IF_ERROR(store.ScanSessions(selection.scan, [&](const SessionRecord& record) {
      AppendExportLine(record, lines.buffer());
      return row_written(&counts.sessions);
    }));
    USP_RETURN_IF_ERROR(write_status);
  }
  USP_RETURN_IF_ERROR(lines.Flush());
  return counts;
}

int RunExport(const ExportOptions& options) {
  Result<ExportSelection> selection = ParseExportSelection(options);
  if (!selection.ok()) {
    std::cerr << "uspctl export: " << selection.status().message() << "\n";
    return 2;
  }
  if (options.store_dir.empty()) {
    std::cerr << "uspctl export: --store-dir is required\n";
    return 2;
  }
  Result<std::unique_ptr<SignalStore>> store = SignalStore::OpenReadOnly(options.store_dir);
  if (!store.ok()) {
    std::cerr << "uspctl export: --store-dir: " << store.status().message();
    if (store.status().code() == Status::Code::kNotFound) {
      std::cerr << " (for `uspctl local`, the store is STATE_DIR/store)";
    }
    std::cerr << "\n";
    return 2;
  }
  Result<std::unique_ptr<ExportSink>> sink = OpenExportSink(options.out);
  if (!sink.ok()) {
    std::cerr << "uspctl export: " << sink.status().message() << "\n";
    return 2;
  }

  using Clock = std::chrono::steady_clock;
  const Clock::time_point started = Clock::now();
  const bool tty = isatty(STDERR_FILENO) == 1;
  Clock::time_point last_report = started;
  auto rate = [&](uint64_t rows) {
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return seconds > 0 ? static_cast<uint64_t>(static_cast<double>(rows) / seconds) : rows;
  };
  auto progress = [&](const ExportCounts& counts) {
    if (!tty) return;
    Clock::time_point now = Clock::now();
    if (now - last_report < std::chrono::milliseconds(500)) return;
    last_report = now;
    std::fprintf(stderr, "\r%llu rows (%llu rows/s)   ",
                 static_cast<unsigned long long>(counts.total()),
                 static_cast<unsigned long long>(rate(counts.total())));
  };

  Result<ExportCounts> counts = ExportRows(**store, *selection, sink->get(), progress);
  Status closed = counts.ok() ? (*sink)->Close() : Status::Ok();
  if (tty) std::fputs("\r\033[K", stderr);
  if (!counts.ok() || !closed.ok()) {
    std::cerr << "uspctl export: " << (counts.ok() ? closed.message() : counts.status().message())
              << "\n";
    return 1;
  }
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::fprintf(stderr,
               "uspctl export: %llu rows (signals %llu, segments %llu, sessions %llu) to %s "
               "in %.2f s (%llu rows/s)\n",
               static_cast<unsigned long long>(counts->total()),
               static_cast<unsigned long long>(counts->signals),
               static_cast<unsigned long long>(counts->segments),
               static_cast<unsigned long long>(counts->sessions),
               options.out == "-" ? "stdout" : options.out.c_str(), seconds,
               static_cast<unsigned long long>(rate(counts->total())));
  return 0;
}

}  // namespace usp

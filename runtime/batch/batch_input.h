#pragma once
// Historical input of a batch run, read from files: one record per line,
// `.jsonl` or gzip-compressed `.jsonl.gz` (zlib; a plain file is read as is
// whatever its name).
//
// Two line formats, chosen per input:
//  - FILE: a `kcat -C -J` envelope per line,
//      {"topic":..,"partition":..,"offset":..,"ts":..,"key":..,"payload":"<json string>"}
//    (what `kcat -C -J -e -t TOPIC > FILE` dumps). Lines with a null payload
//    (tombstones) are skipped.
//  - TOPIC=FILE: every line is a bare event JSON of TOPIC. Partition 0,
//    offset = line number - 1 (the default event id, "<topic>-0-<n>", then
//    differs from what the online path saw: give the signal an eventIdField),
//    no timestamp (the pipeline takes the event time, BatchPipeline::TimeOf).
//
// Thread-compatible.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace usp {

// One input record, from a file or a Kafka range.
struct BatchInputRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = -1;  // Kafka timestamp; -1: none
  std::string payload;
};

// An --input flag value: "FILE" (kcat envelopes) or "TOPIC=FILE" (bare events).
struct InputFileSpec {
  std::string path;
  std::string topic;  // empty: kcat -J envelopes
};

// "TOPIC=FILE" when the text before the first '=' is a Kafka topic name
// ([A-Za-z0-9._-]+); otherwise the whole text is a path.
InputFileSpec ParseInputFlag(std::string_view flag);

class InputFileReader {
 public:
  // NotFound / IoError naming the path.
  static Result<std::unique_ptr<InputFileReader>> Open(const InputFileSpec& spec);
  ~InputFileReader();
  InputFileReader(const InputFileReader&) = delete;
  InputFileReader& operator=(const InputFileReader&) = delete;

  // The next record: true and *record filled; false at the end. A line that
  // is not a valid envelope is counted (bad_lines()) and skipped; an I/O or
  // decompression error is returned (IoError "PATH: ...").
  Result<bool> Next(BatchInputRecord* record);

  const InputFileSpec& spec() const { return spec_; }
  int64_t line() const { return line_; }  // lines read so far
  int64_t bad_lines() const { return bad_lines_; }
  // Progress: bytes of the file (compressed, for .gz) consumed / its size.
  int64_t bytes_read() const;
  int64_t total_bytes() const { return total_bytes_; }

 private:
  InputFileReader(InputFileSpec spec, void* file, int64_t total_bytes);
  // Reads one line into line_buf_ (without the newline); false at the end.
  Result<bool> ReadLine();
  bool ParseEnvelope(std::string_view line, BatchInputRecord* record, std::string* error);

  InputFileSpec spec_;
  void* file_;  // gzFile
  int64_t total_bytes_;
  int64_t line_ = 0;
  int64_t bad_lines_ = 0;
  std::string line_buf_;
};

}  // namespace usp

#include "runtime/batch/batch_input.h"

#include <spdlog/spdlog.h>
#include <zlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

namespace usp {

InputFileSpec ParseInputFlag(std::string_view flag) {
  const size_t eq = flag.find('=');
  if (eq != std::string_view::npos && eq > 0) {
    std::string_view topic = flag.substr(0, eq);
    bool is_topic = true;
    for (char c : topic) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
      if (!ok) is_topic = false;
    }
    if (is_topic) return {std::string(flag.substr(eq + 1)), std::string(topic)};
  }
  return {std::string(flag), ""};
}

Result<std::unique_ptr<InputFileReader>> InputFileReader::Open(const InputFileSpec& spec) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(spec.path, ec)) {
    return Status::NotFound("--input " + spec.path + ": no such file");
  }
  const auto size = std::filesystem::file_size(spec.path, ec);
  if (ec) return Status::IoError("--input " + spec.path + ": " + ec.message());
  gzFile file = gzopen(spec.path.c_str(), "rb");
  if (file == nullptr) return Status::IoError("--input " + spec.path + ": cannot open");
  gzbuffer(file, 1 << 17);
  return std::unique_ptr<InputFileReader>(
      new InputFileReader(spec, file, static_cast<int64_t>(size)));
}

InputFileReader::InputFileReader(InputFileSpec spec, void* file, int64_t total_bytes)
    : spec_(std::move(spec)), file_(file), total_bytes_(total_bytes) {}

InputFileReader::~InputFileReader() { gzclose(static_cast<gzFile>(file_)); }

int64_t InputFileReader::bytes_read() const {
  const z_off_t at = gzoffset(static_cast<gzFile>(file_));
  return at < 0 ? 0 : std::min<int64_t>(at, total_bytes_);
}

Result<bool> InputFileReader::ReadLine() {
  line_buf_.clear();
  gzFile f = static_cast<gzFile>(file_);
  char chunk[8192];
  while (true) {
    if (gzgets(f, chunk, sizeof(chunk)) == nullptr) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      if (err != Z_OK && err != Z_BUF_ERROR) {
        return Status::IoError(spec_.path + ": " + (msg != nullptr ? msg : "read error"));
      }
      if (!gzeof(f)) return Status::IoError(spec_.path + ": read error");
      return !line_buf_.empty();
    }
    line_buf_.append(chunk);
    if (!line_buf_.empty() && line_buf_.back() == '\n') {
      line_buf_.pop_back();
      if (!line_buf_.empty() && line_buf_.back() == '\r') line_buf_.pop_back();
      return true;
    }
  }
}

bool InputFileReader::ParseEnvelope(std::string_view line, BatchInputRecord* record,
                                    std::string* error) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    *error =
        "not a JSON object (expected a kcat -J envelope; use --input TOPIC=FILE for bare events)";
    return false;
  }
  auto topic = j.find("topic");
  if (topic == j.end() || !topic->is_string()) {
    *error = "topic: missing or not a string";
    return false;
  }
  record->topic = topic->get<std::string>();
  auto partition = j.find("partition");
  record->partition =
      partition != j.end() && partition->is_number_integer() ? partition->get<int32_t>() : 0;
  auto offset = j.find("offset");
  record->offset =
      offset != j.end() && offset->is_number_integer() ? offset->get<int64_t>() : line_ - 1;
  auto ts = j.find("ts");
  record->timestamp_ms = ts != j.end() && ts->is_number_integer() ? ts->get<int64_t>() : -1;
  auto payload = j.find("payload");
  if (payload == j.end() || payload->is_null()) {
    *error = "";  // a tombstone: skipped silently
    return false;
  }
  if (payload->is_string()) {
    record->payload = payload->get<std::string>();
  } else {
    record->payload = payload->dump();  // kcat with -J and a JSON deserializer
  }
  return true;
}

Result<bool> InputFileReader::Next(BatchInputRecord* record) {
  while (true) {
    auto more = ReadLine();
    if (!more.ok()) return more.status();
    if (!*more) return false;
    ++line_;
    if (line_buf_.find_first_not_of(" \t") == std::string::npos) continue;
    if (!spec_.topic.empty()) {
      record->topic = spec_.topic;
      record->partition = 0;
      record->offset = line_ - 1;
      record->timestamp_ms = -1;
      record->payload = line_buf_;
      return true;
    }
    std::string error;
    if (ParseEnvelope(line_buf_, record, &error)) return true;
    if (!error.empty()) {
      if (++bad_lines_ <= 5) spdlog::warn("{}:{}: skipped: {}", spec_.path, line_, error);
    }
  }
}

}  // namespace usp

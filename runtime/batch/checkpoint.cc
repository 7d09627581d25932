#include "runtime/batch/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/common/files.h"

namespace usp {

Result<std::optional<Checkpoint>> ReadCheckpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<Checkpoint>();
  std::ifstream in(path);
  if (!in) return Status::IoError("--checkpoint " + path + ": cannot read");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("--checkpoint " + path + ": not a JSON object");
  }
  Checkpoint c;
  try {
    c.job = j.at("job").get<std::string>();
    c.version = j.at("version").get<int64_t>();
    for (const auto& in_j : j.value("inputs", nlohmann::json::array())) {
      if (in_j.contains("file")) {
        c.files.push_back({in_j.at("file").get<std::string>(), in_j.at("size").get<int64_t>(),
                           in_j.value("lines", int64_t{0})});
      } else {
        c.ranges.push_back({in_j.at("topic").get<std::string>(),
                            in_j.at("partition").get<int32_t>(), in_j.at("start").get<int64_t>(),
                            in_j.at("end").get<int64_t>()});
      }
    }
    c.rows = j.value("rows", int64_t{0});
    c.rows_done = j.value("rows_done", int64_t{0});
    c.written = j.value("written", int64_t{0});
    c.unchanged = j.value("unchanged", int64_t{0});
    c.complete = j.value("complete", false);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument("--checkpoint " + path + ": " + e.what());
  }
  return std::optional<Checkpoint>(std::move(c));
}

Status WriteCheckpoint(const std::string& path, const Checkpoint& c) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const auto& f : c.files)
    inputs.push_back({{"file", f.path}, {"size", f.size}, {"lines", f.lines}});
  for (const auto& r : c.ranges) {
    inputs.push_back(
        {{"topic", r.topic}, {"partition", r.partition}, {"start", r.start}, {"end", r.end}});
  }
  nlohmann::json j = {{"format", 1},           {"job", c.job},
                      {"version", c.version},  {"inputs", inputs},
                      {"rows", c.rows},        {"rows_done", c.rows_done},
                      {"written", c.written},  {"unchanged", c.unchanged},
                      {"complete", c.complete}};
  Status s = WriteFileAtomically(path, j.dump(2) + "\n");
  if (!s.ok()) return Status::IoError("--checkpoint " + path + ": " + s.message());
  return s;
}

}  // namespace usp

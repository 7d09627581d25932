#include "core/resource_loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <system_error>

namespace usp {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 256;

std::string Where(const YAML::Mark& mark) {
  if (mark.is_null()) return "";
  return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1) +
         ": ";
}

bool IsDigits(std::string_view s, bool (*digit)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), digit);
}
bool Dec(char c) { return c >= '0' && c <= '9'; }
bool Oct(char c) { return c >= '0' && c <= '7'; }
bool Hex(char c) { return Dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// [-+]? ( \.[0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool IsCoreFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && Dec(s[i])) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && Dec(s[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!IsDigits(s.substr(i), Dec)) return false;
    return true;
  }
  return i == s.size();
}

// YAML 1.2 core schema resolution of a plain scalar.
json ResolvePlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;

  std::string_view body = s;
  const bool negative = !body.empty() && body[0] == '-';
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) body.remove_prefix(1);
  if (IsDigits(body, Dec)) {
    uint64_t magnitude = 0;
    auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), magnitude);
    if (ec == std::errc() && ptr == body.data() + body.size()) {
      if (!negative) {
        if (magnitude <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return static_cast<int64_t>(magnitude);
        }
        return magnitude;
      }
      if (magnitude <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
        return static_cast<int64_t>(0 - magnitude);
      }
    }
    // Too large for 64 bits: fall through to float.
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
    const std::string_view digits = std::string_view(s).substr(2);
    const bool octal = s[1] == 'o';
    if (IsDigits(digits, octal ? Oct : Hex)) {
      uint64_t v = 0;
      auto [ptr, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), v, octal ? 8 : 16);
      if (ec == std::errc() && ptr == digits.data() + digits.size()) {
        if (v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return static_cast<int64_t>(v);
        }
        return v;
      }
    }
    return s;
  }
  if (IsCoreFloat(s)) {
    double v = 0;
    std::string_view f = s;
    if (f[0] == '+') f.remove_prefix(1);
    auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
    if (ptr == f.data() + f.size() && (ec == std::errc() || ec == std::errc::result_out_of_range)) {
      return v;
    }
    return s;
  }
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf" || s == "+.Inf" || s == "+.INF") {
    return std::numeric_limits<double>::infinity();
  }
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") return -std::numeric_limits<double>::infinity();
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return std::numeric_limits<double>::quiet_NaN();
  return s;
}

json ScalarToJson(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  // "!" marks quoted and block scalars (and the non-specific tag): always strings.
  if (tag == "?") return ResolvePlainScalar(node.Scalar());
  static const std::string kCore = "tag:yaml.org,2002:";
  if (tag.rfind(kCore, 0) == 0 && tag != kCore + "str" && tag != kCore + "binary") {
    return ResolvePlainScalar(node.Scalar());
  }
  return node.Scalar();
}

Status NodeToJson(const YAML::Node& node, int depth, json* out) {
  if (depth > kMaxDepth) {
    return Status::InvalidArgument(Where(node.Mark()) + "document nested too deeply");
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      *out = nullptr;
      return Status::Ok();
    case YAML::NodeType::Scalar:
      *out = ScalarToJson(node);
      return Status::Ok();
    case YAML::NodeType::Sequence: {
      *out = json::array();
      for (const YAML::Node& child : node) {
        json value;
        USP_RETURN_IF_ERROR(NodeToJson(child, depth + 1, &value));
        out->push_back(std::move(value));
      }
      return Status::Ok();
    }
    case YAML::NodeType::Map: {
      *out = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return Status::InvalidArgument(Where(kv.first.Mark()) + "mapping keys must be scalars");
        }
        const std::string& key = kv.first.Scalar();
        if (out->contains(key)) {
          return Status::InvalidArgument(Where(kv.first.Mark()) + "duplicate key \"" + key + "\"");
        }
        json value;
        USP_RETURN_IF_ERROR(NodeToJson(kv.second, depth + 1, &value));
        (*out)[key] = std::move(value);
      }
      return Status::Ok();
    }
  }
  return Status::Ok();
}

bool IsYamlFile(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

// A value for an error message. dump() would throw on strings that are not
// UTF-8 (YAML input may hold any bytes): those bytes become U+FFFD.
std::string Quoted(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// yaml-cpp 0.7 loops forever, allocating without bound, on a document whose
// first token is a flow entry ',' (found by fuzz/fuzz_resource_parser). The
// YAML is invalid anyway, so refuse it before yaml-cpp sees it.
Status CheckNoLeadingFlowEntry(std::string_view yaml) {
  bool document_start = true;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= yaml.size()) {
    size_t end = yaml.find('\n', pos);
    if (end == std::string_view::npos) end = yaml.size();
    std::string_view line = yaml.substr(pos, end - pos);
    ++line_no;
    pos = end + 1;
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || line[first] == '#') continue;
    std::string_view rest = line.substr(first);
    bool marker = first == 0 && (rest.starts_with("---") || rest.starts_with("...")) &&
                  (rest.size() == 3 || rest[3] == ' ' || rest[3] == '\t' || rest[3] == '\r');
    if (marker) {
      document_start = true;
      if (rest[0] == '.') continue;
      size_t next = rest.find_first_not_of(" \t\r", 3);
      if (next == std::string_view::npos || rest[next] == '#') continue;
      first += next;
      rest = line.substr(first);
    } else if (document_start && first == 0 && rest[0] == '%') {
      continue;  // a directive
    }
    if (document_start && rest[0] == ',') {
      return Status::InvalidArgument("invalid YAML: line " + std::to_string(line_no) +
                                     ", column " + std::to_string(first + 1) +
                                     ": a document cannot start with ','");
    }
    document_start = false;
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<nlohmann::json>> YamlDocumentsToJson(std::string_view yaml) {
  if (Status s = CheckNoLeadingFlowEntry(yaml); !s.ok()) return s;
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("invalid YAML: " + Where(e.mark) + e.msg);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("invalid YAML: ") + e.what());
  }
  std::vector<json> documents;
  documents.reserve(nodes.size());
  try {
    for (const YAML::Node& node : nodes) {
      json doc;
      Status s = NodeToJson(node, 0, &doc);
      if (!s.ok()) return Status::InvalidArgument("invalid YAML: " + s.message());
      documents.push_back(std::move(doc));
    }
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("invalid YAML: ") + e.what());
  }
  return documents;
}

Result<std::vector<LoadedResource>> LoadResources(std::string_view yaml,
                                                  const std::string& source) {
  Result<std::vector<json>> documents = YamlDocumentsToJson(yaml);
  if (!documents.ok()) {
    return Status::InvalidArgument(source + ": " + documents.status().message());
  }
  std::vector<LoadedResource> resources;
  for (size_t i = 0; i < documents->size(); ++i) {
    json& doc = (*documents)[i];
    if (doc.is_null()) continue;  // empty document, e.g. after a trailing "---"
    LoadedResource resource;
    resource.source = source + "#" + std::to_string(i);
    if (!doc.is_object()) {
      resource.errors.push_back({"document", "must be a mapping"});
      resource.document = std::move(doc);
      resources.push_back(std::move(resource));
      continue;
    }
    if (auto it = doc.find("kind"); it != doc.end() && it->is_string()) {
      resource.kind = it->get<std::string>();
    }
    if (auto meta = doc.find("metadata"); meta != doc.end() && meta->is_object()) {
      if (auto name = meta->find("name"); name != meta->end() && name->is_string()) {
        resource.name = name->get<std::string>();
      }
    }

    if (resource.kind == "UserSignal") {
      resource.user_signal = ParseUserSignal(doc, &resource.errors);
    } else if (resource.kind == "UserSegment") {
      resource.user_segment = ParseUserSegment(doc, &resource.errors);
    } else if (resource.kind == "SessionJob") {
      resource.session_job = ParseSessionJob(doc, &resource.errors);
    } else {
      auto api = doc.find("apiVersion");
      if (api == doc.end() || api->is_null()) {
        resource.errors.push_back({"apiVersion", "required"});
      } else if (!api->is_string() || api->get<std::string>() != kApiVersion) {
        resource.errors.push_back(
            {"apiVersion", std::string("must be ") + kApiVersion + ", got " + Quoted(*api)});
      }
      auto kind = doc.find("kind");
      if (kind == doc.end() || kind->is_null()) {
        resource.errors.push_back({"kind", "required"});
      } else {
        resource.errors.push_back(
            {"kind", "must be one of UserSignal, UserSegment, SessionJob, got " + Quoted(*kind)});
      }
    }
    resource.document = std::move(doc);
    resources.push_back(std::move(resource));
  }
  return resources;
}

Result<std::vector<LoadedResource>> LoadResourcesFromPath(const std::filesystem::path& path) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(path, ec)) {
    for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end;
         it.increment(ec)) {
      if (IsYamlFile(it->path()) && it->is_regular_file(ec)) files.push_back(it->path());
    }
    if (ec) return Status::IoError("cannot list " + path.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
  } else if (std::filesystem::exists(path, ec)) {
    files.push_back(path);
  } else {
    return Status::NotFound(path.string() + ": no such file or directory");
  }

  std::vector<LoadedResource> all;
  std::map<std::pair<std::string, std::string>, std::string> first_seen;  // kind/name -> source
  for (const std::filesystem::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Status::IoError("cannot read " + file.string());
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return Status::IoError("cannot read " + file.string());
    Result<std::vector<LoadedResource>> loaded = LoadResources(text.str(), file.string());
    if (!loaded.ok()) return loaded.status();
    for (LoadedResource& resource : *loaded) {
      if (!resource.kind.empty() && !resource.name.empty()) {
        auto [it, inserted] =
            first_seen.emplace(std::make_pair(resource.kind, resource.name), resource.source);
        if (!inserted) {
          resource.errors.push_back({"metadata.name", "duplicate " + resource.kind + " \"" +
                                                          resource.name + "\" (first defined in " +
                                                          it->second + ")"});
          resource.user_signal.reset();
          resource.user_segment.reset();
          resource.session_job.reset();
        }
      }
      all.push_back(std::move(resource));
    }
  }
  return all;
}

}  // namespace usp

#include "core/resource_loader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <system_error>

#include "core/utf8.h"

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

json ScalarToJson(const std::string& tag, const std::string& value) {
  // "!" marks quoted and block scalars (and the non-specific tag): always strings.
  if (tag == "?") return ResolvePlainScalar(value);
  static const std::string kCore = "tag:yaml.org,2002:";
  if (tag.rfind(kCore, 0) == 0 && tag != kCore + "str" && tag != kCore + "binary") {
    return ResolvePlainScalar(value);
  }
  return value;
}

// Aliases are expanded into copies; a few nested aliases can multiply a
// small document into billions of values ("billion laughs"). Expansion
// beyond this many values in one call is refused.
constexpr size_t kMaxAliasedValues = 1'000'000;

// Builds JSON straight from yaml-cpp's parse events, one document per
// Parser::HandleNextDocument call. Replaces YAML::LoadAll + YAML::Node, whose
// document loop never ends on some invalid input (see YamlDocumentsToJson).
class JsonBuilder : public YAML::EventHandler {
 public:
  explicit JsonBuilder(size_t* aliased_values) : aliased_values_(aliased_values) {}

  const Status& status() const { return status_; }
  const YAML::Mark& start() const { return start_; }
  json TakeRoot() { return std::move(root_); }

  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Add(Value{nullptr, false, "", mark, 1}, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (!status_.ok()) return;
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      Fail(mark, "an alias inside the node it refers to (a recursive document)");
      return;
    }
    *aliased_values_ += it->second.count;
    if (*aliased_values_ > kMaxAliasedValues) {
      Fail(mark, "aliases expand to more than " + std::to_string(kMaxAliasedValues) + " values");
      return;
    }
    Value copy = it->second;
    copy.mark = mark;
    Add(std::move(copy), YAML::NullAnchor);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    Add(Value{ScalarToJson(tag, value), true, value, mark, 1}, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Push(json::array(), mark, anchor);
  }
  void OnSequenceEnd() override { Pop(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Push(json::object(), mark, anchor);
  }
  void OnMapEnd() override { Pop(); }

 private:
  struct Value {
    json value;
    bool scalar = false;
    std::string text;  // a scalar's text, for use as a mapping key
    YAML::Mark mark;
    size_t count = 1;  // values in the subtree
  };
  struct Frame {
    Value node;
    YAML::anchor_t anchor = YAML::NullAnchor;
    bool has_key = false;
    std::string key;
  };

  void Fail(const YAML::Mark& mark, const std::string& message) {
    if (status_.ok()) status_ = Status::InvalidArgument(Where(mark) + message);
  }

  void Push(json container, const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (!status_.ok()) return;
    if (stack_.size() >= static_cast<size_t>(kMaxDepth)) {
      Fail(mark, "document nested too deeply");
      return;
    }
    stack_.push_back(Frame{Value{std::move(container), false, "", mark, 1}, anchor, false, ""});
  }

  void Pop() {
    if (!status_.ok() || stack_.empty()) return;
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    if (frame.has_key) {  // yaml-cpp always sends a value, possibly null; be safe
      Fail(frame.node.mark, "mapping key \"" + frame.key + "\" without a value");
      return;
    }
    Add(std::move(frame.node), frame.anchor);
  }

  void Add(Value v, YAML::anchor_t anchor) {
    if (!status_.ok()) return;
    if (anchor != YAML::NullAnchor) anchors_[anchor] = v;
    if (stack_.empty()) {
      root_ = std::move(v.value);
      return;
    }
    Frame& top = stack_.back();
    if (top.node.value.is_array()) {
      top.node.count += v.count;
      top.node.value.push_back(std::move(v.value));
      return;
    }
    if (!top.has_key) {
      if (!v.scalar) {
        Fail(v.mark, "mapping keys must be scalars");
        return;
      }
      if (top.node.value.contains(v.text)) {
        Fail(v.mark, "duplicate key \"" + v.text + "\"");
        return;
      }
      top.key = std::move(v.text);
      top.has_key = true;
      return;
    }
    top.node.count += v.count;
    top.node.value[top.key] = std::move(v.value);
    top.has_key = false;
  }

  size_t* aliased_values_;
  Status status_;
  YAML::Mark start_;
  json root_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Value> anchors_;
};

// What the parser is stuck on, for the error message.
std::string TokenAt(std::string_view yaml, const YAML::Mark& mark) {
  if (mark.pos >= 0 && static_cast<size_t>(mark.pos) < yaml.size()) {
    const char c = yaml[static_cast<size_t>(mark.pos)];
    if (c > ' ' && c < 0x7f) return std::string("'") + c + "'";
  }
  return "token";
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

}  // namespace

Result<std::vector<nlohmann::json>> YamlDocumentsToJson(std::string_view yaml) {
  // yaml-cpp 0.7's document loop (YAML::LoadAll, Parser::HandleNextDocument)
  // never ends, allocating without bound, when a document starts at a token
  // no node can start with (a ',', ']' or '}' outside a flow collection):
  // the parser reports an empty document without consuming the token, again
  // and again (yaml-cpp issue #1040, fixed upstream in 0.8.0 by PR #1319;
  // found here by fuzz/fuzz_resource_parser, reproducers
  // fuzz/corpus/fuzz_resource_parser/known_hang_*.yaml). Every real document
  // consumes at least one token, so a document starting where the previous
  // one started means the parser is stuck: refuse the input there.
  std::vector<json> documents;
  size_t aliased_values = 0;
  try {
    std::istringstream in{std::string(yaml)};
    YAML::Parser parser(in);
    std::optional<YAML::Mark> previous_start;
    while (true) {
      JsonBuilder builder(&aliased_values);
      if (!parser.HandleNextDocument(builder)) break;
      if (!builder.status().ok()) {
        return Status::InvalidArgument("invalid YAML: " + builder.status().message());
      }
      if (previous_start && previous_start->pos == builder.start().pos) {
        return Status::InvalidArgument("invalid YAML: " + Where(builder.start()) + "unexpected " +
                                       TokenAt(yaml, builder.start()) +
                                       " (no YAML node starts with it here)");
      }
      previous_start = builder.start();
      documents.push_back(builder.TakeRoot());
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("invalid YAML: " + Where(e.mark) + e.msg);
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
    // Strings that are not UTF-8 are errors; they are replaced in `doc`
    // (U+FFFD) so that everything below, and every later dump(), sees text.
    FieldErrors utf8_errors;
    const bool utf8_ok = CheckUtf8Strings(&doc, "", &utf8_errors);
    if (!doc.is_object()) {
      resource.errors.push_back({"document", "must be a mapping"});
      resource.errors.insert(resource.errors.end(), utf8_errors.begin(), utf8_errors.end());
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
    if (!utf8_ok) {
      resource.errors.insert(resource.errors.begin(), utf8_errors.begin(), utf8_errors.end());
      resource.user_signal.reset();
      resource.user_segment.reset();
      resource.session_job.reset();
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

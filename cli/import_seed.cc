#include "cli/import_seed.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>

#include "core/resource_loader.h"
#include "core/user_signal.h"

namespace usp {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

// Seed key (snake_case) -> spec field. The first five are the seed's own
// fields; the rest are USP fields accepted in the seed's style.
const std::vector<std::pair<std::string, std::string>>& SpecKeys() {
  static const auto* keys = new std::vector<std::pair<std::string, std::string>>{
      {"type", "type"},
      {"event_sources", "eventSources"},
      {"left_event_source", "leftEventSource"},
      {"right_event_source", "rightEventSource"},
      {"transform", "transform"},
      {"join_window", "joinWindow"},
      {"user_id_field", "userIdField"},
      {"event_time_field", "eventTimeField"},
      {"event_id_field", "eventIdField"},
      {"filter", "filter"},
      {"attributes", "attributes"},
      {"on_error", "onError"},
      {"dead_letter_topic", "deadLetterTopic"},
      {"retention", "retention"},
      {"output_topic", "outputTopic"},
      {"parallelism", "parallelism"},
      {"standby_replicas", "standbyReplicas"},
  };
  return *keys;
}

// Spec field names that can appear in validation paths and messages, with
// their seed spelling.
const std::vector<std::pair<std::string, std::string>>& CamelToSeed() {
  static const auto* names = new std::vector<std::pair<std::string, std::string>>{
      {"eventSources", "event_sources"},          {"leftEventSource", "left_event_source"},
      {"rightEventSource", "right_event_source"}, {"kafkaTopic", "kafka_topic"},
      {"joinKeyField", "join_key_field"},         {"joinWindow", "join_window"},
      {"userIdField", "user_id_field"},           {"eventTimeField", "event_time_field"},
      {"eventIdField", "event_id_field"},         {"onError", "on_error"},
      {"deadLetterTopic", "dead_letter_topic"},   {"outputTopic", "output_topic"},
      {"standbyReplicas", "standby_replicas"},
  };
  return *names;
}

std::string ReplaceAll(std::string text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// A validation error of the produced resource, in the seed's terms.
std::string ToSeedTerms(const FieldError& error) {
  std::string path = error.path;
  if (path == "metadata.name") {
    path = "name";
  } else if (path.starts_with("spec.")) {
    path = path.substr(5);
  }
  std::string message = error.message;
  for (const auto& [camel, seed] : CamelToSeed()) {
    path = ReplaceAll(path, camel, seed);
    message = ReplaceAll(message, camel, seed);
  }
  return path + ": " + message;
}

std::string DescribeType(const json& value) {
  if (value.is_string()) return "a string";
  if (value.is_object()) return "a mapping";
  if (value.is_array()) return "a list";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number()) return "a number";
  return "null";
}

// A Kubernetes-style name from a seed name: lowercase, '_' and ' ' -> '-'.
std::string KubernetesName(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '_' || c == ' ') {
      out.push_back('-');
    } else {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

// Builds the resource of one config; problems go to *errors ("field:
// problem"), lossy mappings to *warnings.
class ConfigImporter {
 public:
  ConfigImporter(const json& config, std::vector<std::string>* errors,
                 std::vector<std::string>* warnings)
      : config_(config), errors_(errors), warnings_(warnings) {}

  ordered_json Build(const std::string& source, const ImportOptions& options) {
    ordered_json metadata = ordered_json::object();
    ordered_json annotations = ordered_json::object();
    annotations["usp.dev/imported-from"] = source;
    metadata["name"] = Name(&annotations);
    if (!options.namespace_.empty()) metadata["namespace"] = options.namespace_;

    ordered_json spec = ordered_json::object();
    const std::string type = Type();
    spec["type"] = type;
    const bool join = type == "left_join";
    if (const json* sources = Find("event_sources")) spec["eventSources"] = EventSources(*sources);
    if (const json* left = Find("left_event_source")) {
      spec["leftEventSource"] = JoinSource(*left, "left_event_source");
    }
    if (const json* right = Find("right_event_source")) {
      spec["rightEventSource"] = JoinSource(*right, "right_event_source");
    }
    if (type == "simple" && Find("event_sources") == nullptr) {
      Error("event_sources", "required when type is simple (a list of {kafka_topic})");
    }
    if (join) {
      if (Find("left_event_source") == nullptr) Error("left_event_source", "required");
      if (Find("right_event_source") == nullptr) Error("right_event_source", "required");
    }
    if (const json* window = Find("join_window")) spec["joinWindow"] = *window;
    // A left_join's pointers address {"left": ..., "right": ...}: a plain
    // field name means a field of the left event.
    const std::string base = join ? "/left" : "";
    spec["userIdField"] = FieldOr("user_id_field", base, "user_id");
    spec["eventTimeField"] = FieldOr("event_time_field", base, "event_time");
    if (const json* id = Find("event_id_field"))
      spec["eventIdField"] = Field(*id, "event_id_field", base);
    if (const json* filter = Find("filter")) spec["filter"] = *filter;
    if (const json* attributes = Find("attributes"))
      spec["attributes"] = Attributes(*attributes, base);
    if (const json* transform = Find("transform")) {
      spec["transform"] = *transform;
      if (transform->is_string()) {
        warnings_->push_back("transform: \"" + transform->get<std::string>() +
                             "\" is kept as spec.transform, the name of a C++ plug-in: port the "
                             "class to a usp::SignalTransformPlugin registered under this name "
                             "(docs/plugins.md), or replace it with filter and attributes");
      }
    }
    for (const auto& [seed, field] : SpecKeys()) {
      if (seed == "type" || seed == "event_sources" || seed == "left_event_source" ||
          seed == "right_event_source" || seed == "transform" || seed == "join_window" ||
          seed == "user_id_field" || seed == "event_time_field" || seed == "event_id_field" ||
          seed == "filter" || seed == "attributes") {
        continue;  // mapped above
      }
      if (const json* value = Find(seed)) spec[field] = *value;
    }
    if (const json* signal_class = Find("signal_class")) {
      std::string text =
          signal_class->is_string() ? signal_class->get<std::string>() : signal_class->dump();
      annotations["usp.dev/seed-signal-class"] = text;
      warnings_->push_back("signal_class: \"" + text +
                           "\" has no equivalent and is dropped: a signal record carries the "
                           "event (or spec.attributes) as its attributes (kept in annotation "
                           "usp.dev/seed-signal-class)");
    }
    RejectUnknown();

    metadata["annotations"] = std::move(annotations);
    ordered_json resource = ordered_json::object();
    resource["apiVersion"] = kApiVersion;
    resource["kind"] = "UserSignal";
    resource["metadata"] = std::move(metadata);
    resource["spec"] = std::move(spec);
    return resource;
  }

  std::string seed_name() const {
    auto it = config_.find("name");
    return it != config_.end() && it->is_string() ? it->get<std::string>() : std::string();
  }

 private:
  const json* Find(const std::string& key) const {
    auto it = config_.find(key);
    return it == config_.end() || it->is_null() ? nullptr : &*it;
  }
  void Error(const std::string& field, const std::string& problem) {
    errors_->push_back(field + ": " + problem);
  }

  std::string Name(ordered_json* annotations) {
    const json* name = Find("name");
    if (name == nullptr) {
      Error("name", "required");
      return "";
    }
    if (!name->is_string()) {
      Error("name", "must be a string, got " + DescribeType(*name));
      return "";
    }
    const std::string seed = name->get<std::string>();
    const std::string converted = KubernetesName(seed);
    if (converted != seed) {
      (*annotations)["usp.dev/seed-name"] = seed;
      warnings_->push_back("name: \"" + seed +
                           "\" is not a Kubernetes resource name; imported as \"" + converted +
                           "\", which is also the signal's name in its records and in queries "
                           "(?types=" +
                           converted +
                           "); the original is kept in annotation "
                           "usp.dev/seed-name");
    }
    return converted;
  }

  std::string Type() {
    const json* type = Find("type");
    if (type == nullptr) return "simple";  // the seed's default
    if (!type->is_string() ||
        (type->get<std::string>() != "simple" && type->get<std::string>() != "left_join")) {
      Error("type", "must be simple or left_join, got " + type->dump());
      return "";
    }
    return type->get<std::string>();
  }

  // A field name or pointer, relative to `base` when it is a plain name.
  json Field(const json& value, const std::string& field, const std::string& base) {
    if (!value.is_string() || value.get<std::string>().empty()) {
      Error(field, "must be a field name or a JSON pointer, got " + value.dump());
      return value;
    }
    const std::string text = value.get<std::string>();
    if (text.starts_with('/')) return text;
    return base + FieldToPointer(text);
  }

  json FieldOr(const std::string& field, const std::string& base, const std::string& fallback) {
    if (const json* value = Find(field)) return Field(*value, field, base);
    return base + "/" + fallback;
  }

  ordered_json EventSources(const json& sources) {
    ordered_json out = ordered_json::array();
    if (!sources.is_array()) {
      Error("event_sources", "must be a list of {kafka_topic}, got " + DescribeType(sources));
      return out;
    }
    if (sources.empty()) Error("event_sources", "must not be empty");
    for (size_t i = 0; i < sources.size(); ++i) {
      const std::string path = "event_sources[" + std::to_string(i) + "]";
      const json& source = sources[i];
      if (!source.is_object()) {
        Error(path, "must be a mapping with kafka_topic, got " + DescribeType(source));
        continue;
      }
      ordered_json item = ordered_json::object();
      for (const auto& [key, value] : source.items()) {
        if (key != "kafka_topic" && key != "filter") {
          Error(path + "." + key, "unknown field (an event source has kafka_topic and filter)");
        }
      }
      if (auto topic = source.find("kafka_topic"); topic != source.end()) {
        item["kafkaTopic"] = *topic;
      } else {
        Error(path + ".kafka_topic", "required");
      }
      if (auto filter = source.find("filter"); filter != source.end()) item["filter"] = *filter;
      out.push_back(std::move(item));
    }
    return out;
  }

  ordered_json JoinSource(const json& source, const std::string& path) {
    ordered_json item = ordered_json::object();
    if (!source.is_object()) {
      Error(path,
            "must be a mapping with kafka_topic and join_key_field, got " + DescribeType(source));
      return item;
    }
    for (const auto& [key, value] : source.items()) {
      if (key != "kafka_topic" && key != "join_key_field") {
        Error(path + "." + key, "unknown field (a join source has kafka_topic and join_key_field)");
      }
    }
    if (auto topic = source.find("kafka_topic"); topic != source.end()) {
      item["kafkaTopic"] = *topic;
    } else {
      Error(path + ".kafka_topic", "required");
    }
    if (auto key = source.find("join_key_field"); key != source.end()) {
      item["joinKeyField"] = Field(*key, path + ".join_key_field", "");
    } else {
      Error(path + ".join_key_field", "required");
    }
    return item;
  }

  ordered_json Attributes(const json& attributes, const std::string& base) {
    if (!attributes.is_object()) return attributes;  // validation names the problem
    ordered_json out = ordered_json::object();
    for (const auto& [key, value] : attributes.items()) {
      out[key] = value.is_string() ? Field(value, "attributes." + key, base) : value;
    }
    return out;
  }

  void RejectUnknown() {
    for (const auto& [key, value] : config_.items()) {
      if (key == "name" || key == "signal_class") continue;
      const std::string& field = key;  // clang 14 cannot capture a structured binding
      bool known = std::any_of(SpecKeys().begin(), SpecKeys().end(),
                               [&](const auto& entry) { return entry.first == field; });
      if (!known) {
        Error(key,
              "unknown field: not part of the seed's signal config, nor a UserSignal field "
              "(docs/import.md lists the supported fields)");
      }
    }
  }

  const json& config_;
  std::vector<std::string>* errors_;
  std::vector<std::string>* warnings_;
};

// A duration such as "24h" or "1h30m": starts with a digit, yet never reads
// as a number.
bool IsDuration(std::string_view s) {
  static const std::regex kDuration("([0-9]+(ms|s|m|h|d))+");
  return std::regex_match(s.begin(), s.end(), kDuration);
}

bool IsPlainSafe(std::string_view s) {
  if (s.empty()) return false;
  if (IsDuration(s)) return true;
  const char first = s.front();
  if (!std::isalpha(static_cast<unsigned char>(first)) && first != '_' && first != '/') {
    return false;
  }
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '/' &&
        c != '-') {
      return false;
    }
  }
  std::string lower;
  for (char c : s) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  static const std::set<std::string> kReserved = {
      "true", "false", "null", "yes", "no", "on", "off", "y", "n", "nan", "inf", "infinity"};
  return !kReserved.contains(lower);
}

std::string Scalar(const ordered_json& value) {
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    return IsPlainSafe(s) ? s : value.dump();
  }
  if (value.is_object()) return "{}";
  if (value.is_array()) return "[]";
  return value.dump();
}

bool IsBlock(const ordered_json& value) {
  return (value.is_object() || value.is_array()) && !value.empty();
}

void EmitYaml(const ordered_json& value, int indent, std::string* out) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      *out += pad + Scalar(ordered_json(key)) + ":";
      if (IsBlock(item)) {
        *out += "\n";
        EmitYaml(item, indent + 2, out);
      } else {
        *out += " " + Scalar(item) + "\n";
      }
    }
    return;
  }
  for (const auto& item : value) {
    if (!IsBlock(item)) {
      *out += pad + "- " + Scalar(item) + "\n";
      continue;
    }
    // The item's first line moves up beside the dash.
    std::string nested;
    EmitYaml(item, indent + 2, &nested);
    *out += pad + "- " + nested.substr(static_cast<size_t>(indent) + 2);
  }
}

Result<std::vector<json>> ParseConfigText(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) {
    // JSON first: it may use tabs, which YAML does not allow for indentation.
    json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (!doc.is_discarded()) return std::vector<json>{std::move(doc)};
  }
  return YamlDocumentsToJson(text);
}

}  // namespace

std::string FieldToPointer(std::string_view field) {
  if (field.starts_with('/')) return std::string(field);
  std::string out = "/";
  for (char c : field) {
    if (c == '.') {
      out += '/';
    } else if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string ToYaml(const ordered_json& document) {
  std::string out;
  EmitYaml(document, 0, &out);
  return out;
}

Result<std::vector<ImportedSignal>> ImportSeedConfigs(std::string_view text,
                                                      const std::string& file,
                                                      const ImportOptions& options) {
  Result<std::vector<json>> documents = ParseConfigText(text);
  if (!documents.ok()) return Status::InvalidArgument(file + ": " + documents.status().message());
  std::vector<json> configs;
  for (json& doc : *documents) {
    if (doc.is_null()) continue;
    if (doc.is_array()) {
      for (json& item : doc) configs.push_back(std::move(item));
    } else {
      configs.push_back(std::move(doc));
    }
  }
  if (configs.empty()) return Status::InvalidArgument(file + ": no signal configs");

  std::vector<ImportedSignal> out;
  std::string problems;
  const std::string file_name = fs::path(file).filename().string();
  for (size_t i = 0; i < configs.size(); ++i) {
    const json& config = configs[i];
    std::string where = file + ": config " + std::to_string(i);
    if (!config.is_object()) {
      problems += where + ": must be a mapping (name, type, event_sources, ...), got " +
                  DescribeType(config) + "\n";
      continue;
    }
    std::vector<std::string> errors;
    ImportedSignal imported;
    ConfigImporter importer(config, &errors, &imported.warnings);
    if (!importer.seed_name().empty()) where += " (" + importer.seed_name() + ")";
    imported.source = file_name + "#" + std::to_string(i);
    imported.resource = importer.Build(imported.source, options);
    imported.name = imported.resource["metadata"]["name"].get<std::string>();

    std::string yaml = ToYaml(imported.resource);
    if (errors.empty()) {
      // The produced resource must load as `uspctl local` and kubectl take it.
      Result<std::vector<LoadedResource>> loaded = LoadResources(yaml, imported.source);
      if (!loaded.ok()) {
        errors.push_back("internal: the produced YAML does not load: " + loaded.status().message());
      } else if (loaded->size() != 1) {
        errors.push_back("internal: the produced YAML holds " + std::to_string(loaded->size()) +
                         " documents");
      } else {
        for (const FieldError& e : (*loaded)[0].errors) errors.push_back(ToSeedTerms(e));
      }
    }
    for (const std::string& e : errors) problems += where + ": " + e + "\n";
    if (!errors.empty()) continue;

    imported.yaml = "# Imported by `uspctl import` from " + file_name + ", config " +
                    std::to_string(i) + " (" + importer.seed_name() + ").\n";
    for (const std::string& w : imported.warnings) imported.yaml += "# warning: " + w + "\n";
    imported.yaml += yaml;
    out.push_back(std::move(imported));
  }
  if (!problems.empty()) {
    problems.pop_back();
    return Status::InvalidArgument(problems);
  }
  return out;
}

int RunImport(const ImportCommandOptions& options) {
  if (options.files.empty()) {
    std::cerr << "uspctl import: give at least one seed config file\n";
    return 2;
  }
  if (!options.out_dir.empty() && options.to_stdout) {
    std::cerr << "uspctl import: --out-dir and --stdout exclude each other\n";
    return 2;
  }
  std::vector<ImportedSignal> all;
  std::map<std::string, std::string> source_by_name;
  bool failed = false;
  for (const std::string& file : options.files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "uspctl import: cannot read " << file << "\n";
      return 2;
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Result<std::vector<ImportedSignal>> imported = ImportSeedConfigs(text, file, options.import);
    if (!imported.ok()) {
      std::cerr << imported.status().message() << "\n";
      failed = true;
      continue;
    }
    for (ImportedSignal& signal : *imported) {
      for (const std::string& w : signal.warnings) {
        std::cerr << file << ": " << signal.name << ": warning: " << w << "\n";
      }
      if (options.strict && !signal.warnings.empty()) failed = true;
      auto [it, inserted] = source_by_name.emplace(signal.name, signal.source);
      if (!inserted) {
        std::cerr << file << ": " << signal.source << ": name: \"" << signal.name
                  << "\" is also the name of " << it->second
                  << " (names must be unique once rewritten)\n";
        failed = true;
      }
      all.push_back(std::move(signal));
    }
  }
  if (failed) {
    std::cerr << "uspctl import: nothing written"
              << (options.strict ? " (--strict: warnings are errors)" : "") << "\n";
    return 1;
  }

  if (options.out_dir.empty()) {
    for (size_t i = 0; i < all.size(); ++i) {
      if (i > 0) std::cout << "---\n";
      std::cout << all[i].yaml;
    }
    std::cerr << "uspctl import: " << all.size() << " UserSignal resource"
              << (all.size() == 1 ? "" : "s") << " (check with `uspctl validate`)\n";
    return 0;
  }
  const fs::path dir(options.out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    std::cerr << "uspctl import: --out-dir: cannot create " << dir.string() << ": " << ec.message()
              << "\n";
    return 2;
  }
  if (!options.overwrite) {
    for (const ImportedSignal& signal : all) {
      fs::path path = dir / (signal.name + ".yaml");
      if (fs::exists(path)) {
        std::cerr << "uspctl import: " << path.string()
                  << " exists (use --overwrite to replace it); nothing written\n";
        return 1;
      }
    }
  }
  for (const ImportedSignal& signal : all) {
    fs::path path = dir / (signal.name + ".yaml");
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << signal.yaml;
    out.close();
    if (!out) {
      std::cerr << "uspctl import: cannot write " << path.string() << "\n";
      return 1;
    }
    std::cerr << "wrote " << path.string() << " (UserSignal " << signal.name << " from "
              << signal.source << ")\n";
  }
  return 0;
}

}  // namespace usp

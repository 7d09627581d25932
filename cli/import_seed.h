#pragma once
// `uspctl import`: turns signal configs in the seed's format (Airbnb's User
// Signals Platform config files) into UserSignal resources.
//
//   - name: example_join_signal
//     type: left_join
//     signal_class: com.airbnb.usp.api.ExampleJoinSignal
//     transform: com.airbnb.usp.transforms.ExampleJoinSignalTransform
//     left_event_source:
//       kafka_topic: example_left_source_event
//       join_key_field: example_join_key
//     right_event_source:
//       kafka_topic: example_right_source_event
//       join_key_field: example_join_key
//
// A file (YAML or JSON, possibly several YAML documents) holds one config (a
// mapping) or many (a list). The mapping, field by field, is in
// docs/import.md. In short:
//   - the seed's keys map to their camelCase spec fields; field names
//     (join_key_field, user_id_field, ...) become JSON pointers ("a.b" ->
//     "/a/b"; a value starting with '/' is already a pointer);
//   - the spec fields the seed does not show (filter, attributes,
//     user_id_field, event_time_field, event_id_field, join_window,
//     on_error, dead_letter_topic, retention, output_topic, parallelism,
//     standby_replicas, and filter on an event source) are accepted in the
//     same snake_case style;
//   - lossy mappings are warnings, and a comment in the output:
//     `signal_class` (no equivalent: a signal record's attributes are the
//     event or spec.attributes), a `name` that is not a Kubernetes name
//     (rewritten: lowercase, '_' -> '-'), and `transform` (kept as the
//     plug-in name, which a C++ plug-in must register); the original values
//     are kept in annotations;
//   - anything else is an error naming the file, the config and the field.
//
// Every produced resource is checked with core/resource_loader.h before it
// is returned.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace usp {

struct ImportedSignal {
  std::string name;                   // metadata.name
  std::string source;                 // "file#index": which config it came from
  nlohmann::ordered_json resource;    // {apiVersion, kind, metadata, spec}
  std::vector<std::string> warnings;  // lossy mappings, each naming its field
  std::string yaml;                   // the resource as YAML, warnings as comments on top
};

struct ImportOptions {
  std::string namespace_;  // metadata.namespace; empty = leave it out ("default")
};

// Imports every config in `text` (the contents of `file`, YAML or JSON).
// Errors: InvalidArgument "<file>: config <i> (<name>): <field>: <problem>",
// every problem of every config, one per line.
Result<std::vector<ImportedSignal>> ImportSeedConfigs(std::string_view text,
                                                      const std::string& file,
                                                      const ImportOptions& options);

// The seed's field name -> a JSON pointer ("a.b" -> "/a/b", "/x" stays).
std::string FieldToPointer(std::string_view field);

// A resource document as block YAML (keys in document order; strings quoted
// when a plain scalar would read back as something else).
std::string ToYaml(const nlohmann::ordered_json& document);

struct ImportCommandOptions {
  std::vector<std::string> files;
  std::string out_dir;  // one NAME.yaml per resource; empty = stdout
  bool to_stdout = false;
  bool overwrite = false;  // replace existing files in out_dir
  bool strict = false;     // warnings are errors
  ImportOptions import;
};

// The whole command. Nothing is written unless every config imports.
// Exit code: 0 done, 1 a config could not be imported (or warned, with
// --strict), 2 bad flags or unreadable files.
int RunImport(const ImportCommandOptions& options);

}  // namespace usp

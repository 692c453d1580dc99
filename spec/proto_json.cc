#include "spec/proto_json.h"

#include <google/protobuf/util/json_util.h>

#include "common/status.h"

namespace sparsescale::spec {

std::string ToJsonLine(const google::protobuf::Message& message, bool print_defaults) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = print_defaults;
  options.preserve_proto_field_names = true;
  std::string json;
  // Printing a valid message cannot fail; a failure is a broken protobuf install.
  SS_CHECK(google::protobuf::util::MessageToJsonString(message, &json, options).ok());
  return json;
}

absl::Status FromJson(std::string_view json, google::protobuf::Message* message) {
  message->Clear();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(status.message().ToString());
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::spec

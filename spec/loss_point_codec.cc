#include "spec/loss_point_codec.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "spec/proto_json.h"

namespace sparsescale::spec {
namespace {

using google::protobuf::FieldDescriptor;
using sparsescale::v1::LossPoint;

// One field's CSV text. LossPoint holds numbers only; any other type is a programming error
// caught by the codec's tests the day it is added.
std::string CsvValue(const LossPoint& point, const FieldDescriptor& field) {
  const google::protobuf::Reflection& r = *point.GetReflection();
  if (field.has_presence() && !r.HasField(point, &field)) {
    return "";
  }
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(r.GetInt64(point, &field));
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(r.GetInt32(point, &field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return absl::StrFormat("%.17g", r.GetDouble(point, &field));
    default:
      CheckFailed(__FILE__, __LINE__, "LossPoint fields are integers or doubles");
  }
}

}  // namespace

std::string LossPointToJson(const LossPoint& point) {
  return ToJsonLine(point, /*print_defaults=*/true);
}

absl::StatusOr<LossPoint> LossPointFromJson(std::string_view json) {
  LossPoint point;
  RETURN_IF_ERROR(FromJson(json, &point));
  return point;
}

std::string LossPointCsvHeader() {
  const google::protobuf::Descriptor& d = *LossPoint::descriptor();
  std::string header;
  for (int i = 0; i < d.field_count(); ++i) {
    absl::StrAppend(&header, i == 0 ? "" : ",", d.field(i)->name());
  }
  return header;
}

std::string LossPointCsvRow(const LossPoint& point) {
  const google::protobuf::Descriptor& d = *LossPoint::descriptor();
  std::string row;
  for (int i = 0; i < d.field_count(); ++i) {
    absl::StrAppend(&row, i == 0 ? "" : ",", CsvValue(point, *d.field(i)));
  }
  return row;
}

}  // namespace sparsescale::spec

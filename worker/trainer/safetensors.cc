#include "worker/trainer/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "worker/trainer/file_util.h"

namespace sparsescale::trainer {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors is little-endian");

// A header larger than this is treated as corrupt (the Python reader's own limit is 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

absl::StatusOr<DType> ParseDType(const std::string& s) {
  if (s == "F32") {
    return DType::kF32;
  }
  if (s == "I64") {
    return DType::kI64;
  }
  if (s == "U8") {
    return DType::kU8;
  }
  return absl::InvalidArgumentError("unsupported dtype \"" + s + "\"");
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  return "[" + absl::StrJoin(shape, ", ") + "]";
}

// Shapes are either the writer's own or checked by ParseEntry (ShapeFits) first, so the product
// fits: a zero dimension makes it 0 before any other factor can overflow.
int64_t Numel(const std::vector<int64_t>& shape) {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) {
    return 0;
  }
  int64_t n = 1;
  for (int64_t d : shape) {
    n *= d;
  }
  return n;
}

// Whether a shape of non-negative dimensions has at most `max_numel` elements, decided without
// multiplying past it (a hostile header may name dimensions whose product overflows int64).
bool ShapeFits(const std::vector<int64_t>& shape, uint64_t max_numel) {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) {
    return true;
  }
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (n > max_numel / static_cast<uint64_t>(d)) {
      return false;
    }
    n *= static_cast<uint64_t>(d);
  }
  return true;
}

// Parses one tensor entry of the header; `data_bytes` is the size of the data section.
absl::StatusOr<TensorView> ParseEntry(const nlohmann::json& entry, uint64_t data_bytes) {
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
      !entry.contains("data_offsets")) {
    return absl::InvalidArgumentError("entry lacks dtype, shape or data_offsets");
  }
  const auto& dtype = entry["dtype"];
  const auto& shape = entry["shape"];
  const auto& offsets = entry["data_offsets"];
  if (!dtype.is_string() || !shape.is_array() || !offsets.is_array() || offsets.size() != 2 ||
      !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
    return absl::InvalidArgumentError("malformed dtype, shape or data_offsets");
  }
  TensorView view;
  ASSIGN_OR_RETURN(view.dtype, ParseDType(dtype.get<std::string>()));
  for (const auto& d : shape) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 40)) {
      return absl::InvalidArgumentError("shape entries must be non-negative integers");
    }
    view.shape.push_back(d.get<int64_t>());
  }
  const auto begin = offsets[0].get<uint64_t>();
  const auto end = offsets[1].get<uint64_t>();
  if (begin > end || end > data_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("data_offsets [", begin, ", ", end,
                                                   ") outside the data section of ", data_bytes,
                                                   " bytes (truncated file?)"));
  }
  view.bytes = end - begin;
  if (!ShapeFits(view.shape, data_bytes / DTypeBytes(view.dtype))) {
    return absl::InvalidArgumentError(absl::StrCat("shape ", ShapeText(view.shape),
                                                   " has more elements than the data section of ",
                                                   data_bytes, " bytes holds"));
  }
  if (view.bytes != static_cast<uint64_t>(Numel(view.shape)) * DTypeBytes(view.dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("shape ", ShapeText(view.shape), " needs ",
                                                   Numel(view.shape) * DTypeBytes(view.dtype),
                                                   " bytes but data_offsets span ", view.bytes));
  }
  view.offset = begin;
  return view;
}

absl::StatusOr<uint64_t> ReadHeaderLength(const std::string& bytes, uint64_t file_bytes,
                                          const std::string& name) {
  if (bytes.size() < 8) {
    return absl::InvalidArgumentError(name + ": truncated safetensors file (under 8 bytes)");
  }
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n > kMaxHeaderBytes || n > file_bytes - 8) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": corrupt or truncated safetensors file: header length ", n,
                     " but the file has ", file_bytes, " bytes"));
  }
  return n;
}

}  // namespace

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kI64:
      return "I64";
    case DType::kU8:
      return "U8";
  }
  return "?";
}

size_t DTypeBytes(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kI64:
      return 8;
    case DType::kU8:
      return 1;
  }
  return 0;
}

int64_t TensorView::numel() const { return Numel(shape); }

void SafetensorsWriter::Add(const std::string& name, DType dtype, std::vector<int64_t> shape,
                            const void* data, size_t bytes) {
  SS_CHECK(bytes == static_cast<size_t>(Numel(shape)) * DTypeBytes(dtype));
  tensors_.push_back(
      Tensor{name, dtype, std::move(shape), std::string(static_cast<const char*>(data), bytes)});
}

void SafetensorsWriter::AddF32(const std::string& name, std::vector<int64_t> shape,
                               const float* data) {
  const size_t bytes = static_cast<size_t>(Numel(shape)) * 4;
  Add(name, DType::kF32, std::move(shape), data, bytes);
}

void SafetensorsWriter::AddI64(const std::string& name, std::vector<int64_t> shape,
                               const int64_t* data) {
  const size_t bytes = static_cast<size_t>(Numel(shape)) * 8;
  Add(name, DType::kI64, std::move(shape), data, bytes);
}

std::string SafetensorsWriter::Serialize() const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    header["__metadata__"] = metadata_;
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    header[t.name] = {{"dtype", DTypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string json = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  out.reserve(8 + json.size() + offset);
  out += json;
  for (const Tensor& t : tensors_) {
    out += t.bytes;
  }
  return out;
}

absl::Status SafetensorsWriter::WriteAtomically(const std::string& path) const {
  const std::string bytes = Serialize();
  return WriteFileAtomically(
      path, [&](int fd) { return WriteAll(fd, bytes.data(), bytes.size(), path); });
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::ParseHeader(std::string bytes,
                                                             const std::string& name,
                                                             uint64_t file_bytes, bool with_data) {
  ASSIGN_OR_RETURN(uint64_t n, ReadHeaderLength(bytes, file_bytes, name));
  if (bytes.size() < 8 + n) {
    return absl::InvalidArgumentError(name + ": truncated safetensors header");
  }
  nlohmann::json header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + n, nullptr,
                                                /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return absl::InvalidArgumentError(name + ": corrupt safetensors header (not a JSON object)");
  }
  SafetensorsFile file;
  file.name_ = name;
  const uint64_t data_bytes = file_bytes - 8 - n;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) {
        return absl::InvalidArgumentError(name + ": __metadata__ is not an object");
      }
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) {
          return absl::InvalidArgumentError(name + ": metadata \"" + m.key() +
                                            "\" is not a string");
        }
        file.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto view = ParseEntry(it.value(), data_bytes);
    if (!view.ok()) {
      return absl::InvalidArgumentError(name + ": tensor \"" + it.key() +
                                        "\": " + std::string(view.status().message()));
    }
    file.tensors_[it.key()] = *std::move(view);
  }
  file.bytes_ = std::make_unique<std::string>(with_data ? std::move(bytes) : std::string());
  for (auto& [key, view] : file.tensors_) {
    view.data = with_data ? file.bytes_->data() + 8 + n + view.offset : nullptr;
  }
  return file;
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Parse(std::string bytes, const std::string& name) {
  const uint64_t size = bytes.size();
  return ParseHeader(std::move(bytes), name, size, /*with_data=*/true);
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Read(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  return Parse(std::move(bytes), path);
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::ReadHeader(const std::string& path) {
  std::error_code ec;
  const uint64_t file_bytes = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in) {
    return absl::NotFoundError(path + ": cannot open checkpoint");
  }
  std::string prefix(8, '\0');
  in.read(prefix.data(), 8);
  if (!in) {
    return absl::InvalidArgumentError(path + ": truncated safetensors file (under 8 bytes)");
  }
  ASSIGN_OR_RETURN(uint64_t n, ReadHeaderLength(prefix, file_bytes, path));
  prefix.resize(8 + n);
  in.read(prefix.data() + 8, static_cast<std::streamsize>(n));
  if (!in) {
    return absl::InvalidArgumentError(path + ": truncated safetensors header");
  }
  return ParseHeader(std::move(prefix), path, file_bytes, /*with_data=*/false);
}

const TensorView* SafetensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

absl::StatusOr<std::string> SafetensorsFile::Metadata(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) {
    return absl::InvalidArgumentError(name_ + ": metadata \"" + key + "\" is missing");
  }
  return it->second;
}

absl::Status SafetensorsFile::CopyF32(const std::string& name, const std::vector<int64_t>& shape,
                                      float* out) const {
  const TensorView* view = Find(name);
  if (view == nullptr) {
    return absl::InvalidArgumentError(name_ + ": tensor \"" + name + "\" is missing");
  }
  if (view->dtype != DType::kF32 || view->shape != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ": tensor \"", name, "\" is ", DTypeName(view->dtype), " ",
                     ShapeText(view->shape), ", expected F32 ", ShapeText(shape)));
  }
  if (view->data == nullptr) {
    return absl::FailedPreconditionError(name_ + ": only the header was read");
  }
  if (view->bytes > 0) {  // an empty tensor may come with out == nullptr (memcpy forbids it)
    std::memcpy(out, view->data, view->bytes);
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::trainer

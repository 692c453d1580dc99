// Reading and writing safetensors files (the format PyTorch, JAX and HF tools open): 8-byte
// little-endian header length, a JSON header mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end)} (offsets into the data section) plus an
// optional "__metadata__" string map, then the raw little-endian tensor bytes.
// Classes are thread-compatible (no shared state).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sparsescale::trainer {

enum class DType { kF32, kI64, kU8 };

// "F32", "I64", "U8"; element size in bytes.
const char* DTypeName(DType dtype);
size_t DTypeBytes(DType dtype);

// Collects tensors (copied in) and metadata, then writes them in insertion order.
class SafetensorsWriter {
 public:
  // Copies `bytes` bytes from `data`; bytes must equal numel(shape) * DTypeBytes(dtype).
  void Add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data,
           size_t bytes);
  void AddF32(const std::string& name, std::vector<int64_t> shape, const float* data);
  void AddI64(const std::string& name, std::vector<int64_t> shape, const int64_t* data);
  void SetMetadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  // The whole file's bytes.
  std::string Serialize() const;
  // Writes atomically (temporary file, fsync, rename). Errors name the path.
  absl::Status WriteAtomically(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::string bytes;
  };
  std::vector<Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// One tensor of a parsed file; `data` points into the owning SafetensorsFile.
struct TensorView {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const char* data = nullptr;  // null when only the header was read
  size_t offset = 0;           // into the data section
  size_t bytes = 0;
  int64_t numel() const;
};

// A parsed safetensors file held in memory.
class SafetensorsFile {
 public:
  // Reads and validates a file: header length within the file, valid JSON, known dtypes,
  // offsets inside the data section and consistent with shapes. NotFound when the file cannot
  // be opened; InvalidArgument naming the file for a truncated or corrupt one.
  static absl::StatusOr<SafetensorsFile> Read(const std::string& path);
  // Parses bytes already in memory; `name` is used in error messages.
  static absl::StatusOr<SafetensorsFile> Parse(std::string bytes, const std::string& name);
  // Reads only the header (cheap) and validates it against the file size.
  static absl::StatusOr<SafetensorsFile> ReadHeader(const std::string& path);

  // Null when absent.
  const TensorView* Find(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The metadata value or NotFound/InvalidArgument naming the key.
  absl::StatusOr<std::string> Metadata(const std::string& key) const;

  // Copies a tensor into `out` after checking dtype F32 and the expected shape. Errors name
  // the tensor and the file.
  absl::Status CopyF32(const std::string& name, const std::vector<int64_t>& shape,
                       float* out) const;

 private:
  static absl::StatusOr<SafetensorsFile> ParseHeader(std::string bytes, const std::string& name,
                                                     uint64_t file_bytes, bool with_data);
  std::string name_;
  // Heap-held so TensorView::data stays valid when the file object moves.
  std::unique_ptr<std::string> bytes_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace sparsescale::trainer

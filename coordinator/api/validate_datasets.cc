// Validation of the dataset RPCs' requests (declared in validate.h): pure functions, kept apart
// from the handlers in datasets.cc so that the rpc_validate fuzz target links them alone.
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"
#include "coordinator/api/validate.h"
#include "coordinator/store/store_datasets.h"
#include "spec/job_spec.h"

namespace sparsescale::coordinator {
namespace {

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

absl::Status ValidateHash(const std::string& hash, const std::string& field) {
  if (!IsSha256Hex(hash)) {
    return Invalid(field, absl::StrCat("must be a sha256 (64 lowercase hex digits), got \"",
                                       hash.substr(0, 80), "\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateHashes(const google::protobuf::RepeatedPtrField<std::string>& hashes,
                            const std::string& field) {
  if (hashes.size() > store::kMaxChunksPerCall) {
    return Invalid(field, absl::StrCat("at most ", store::kMaxChunksPerCall,
                                       " hashes per call, got ", hashes.size()));
  }
  for (int i = 0; i < hashes.size(); ++i) {
    RETURN_IF_ERROR(ValidateHash(hashes[i], absl::StrCat(field, "[", i, "]")));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateDatasetRef(const std::string& dataset, const std::string& field) {
  if (IsSha256Hex(dataset)) {
    return absl::OkStatus();
  }
  return spec::ValidateDatasetName(dataset, field);
}

absl::Status ValidateFindMissingChunks(const v1::FindMissingChunksRequest& r) {
  if (!r.dataset().empty()) {
    RETURN_IF_ERROR(spec::ValidateDatasetName(r.dataset(), "dataset"));
  }
  return ValidateHashes(r.chunks(), "chunks");
}

absl::Status ValidatePutChunk(const v1::PutChunkRequest& r) {
  RETURN_IF_ERROR(spec::ValidateDatasetName(r.dataset(), "dataset"));
  RETURN_IF_ERROR(ValidateHash(r.sha256(), "sha256"));
  if (r.data().empty() || static_cast<int64_t>(r.data().size()) > store::kMaxDatasetChunkBytes) {
    return Invalid("data", absl::StrCat("must hold 1 to ", store::kMaxDatasetChunkBytes,
                                        " bytes, got ", r.data().size()));
  }
  const std::string digest = Sha256Hex(r.data());
  if (digest != r.sha256()) {
    return Invalid("data", absl::StrCat("the ", r.data().size(), " bytes hash to ", digest,
                                        ", not to sha256 ", r.sha256(),
                                        " (damaged in transit? send it again)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCommitDataset(const v1::CommitDatasetRequest& r) {
  RETURN_IF_ERROR(spec::ValidateDatasetName(r.name(), "name"));
  if (r.files().empty() || r.files_size() > store::kMaxDatasetFiles) {
    return Invalid("files", absl::StrCat("must have 1 to ", store::kMaxDatasetFiles,
                                         " files, got ", r.files_size()));
  }
  std::set<std::string> names;
  for (int i = 0; i < r.files_size(); ++i) {
    const v1::DatasetFile& f = r.files(i);
    const std::string field = absl::StrCat("files[", i, "]");
    RETURN_IF_ERROR(spec::ValidateDatasetFileName(f.name(), field + ".name"));
    if (!names.insert(f.name()).second) {
      return Invalid(field + ".name", absl::StrCat("\"", f.name(), "\" appears twice"));
    }
    if (f.size_bytes() < 0) {
      return Invalid(field + ".size_bytes", absl::StrCat("must be >= 0, got ", f.size_bytes()));
    }
    RETURN_IF_ERROR(ValidateHash(f.sha256(), field + ".sha256"));
    RETURN_IF_ERROR(ValidateHashes(f.chunks(), field + ".chunks"));
    const int64_t most = store::kMaxDatasetChunkBytes * f.chunks_size();
    const int64_t least = f.chunks_size() == 0 ? 0 : most - store::kMaxDatasetChunkBytes + 1;
    if (f.size_bytes() < least || f.size_bytes() > most) {
      return Invalid(field + ".chunks", absl::StrCat(f.chunks_size(), " chunks of at most ",
                                                     store::kMaxDatasetChunkBytes,
                                                     " bytes cannot hold ", f.size_bytes(),
                                                     " bytes"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDownloadChunks(const v1::DownloadChunksRequest& r) {
  RETURN_IF_ERROR(ValidateHash(r.dataset(), "dataset"));
  return ValidateHashes(r.chunks(), "chunks");
}

}  // namespace sparsescale::coordinator

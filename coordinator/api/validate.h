// Validation of every request the coordinator accepts, before anything is stored. Each error
// is InvalidArgument whose message starts with the offending field, e.g.
// "points[3].train_loss: must be finite, got nan". Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::coordinator {

inline constexpr int64_t kMaxChunkBytes = 4 << 20;  // one checkpoint chunk
inline constexpr int64_t kMaxCheckpointBytes = int64_t{64} << 30;
inline constexpr int kMaxPointsPerReport = 65'536;
inline constexpr int64_t kMaxLogChunkBytes = 1 << 20;  // one ReportLogs chunk
inline constexpr int64_t kMaxWaitMs = 30'000;
inline constexpr int kMaxPageSize = 1000;
inline constexpr int kDefaultPageSize = 100;

absl::Status ValidateRegisterWorker(const sparsescale::v1::RegisterWorkerRequest& r);
// FailedPrecondition naming both protocol and release versions unless the worker speaks this
// coordinator's worker protocol (common/version.h); part of ValidateRegisterWorker.
absl::Status CheckProtocolVersion(const sparsescale::v1::RegisterWorkerRequest& r);
absl::Status ValidateAcquireLease(const sparsescale::v1::AcquireLeaseRequest& r);
absl::Status ValidateHeartbeat(const sparsescale::v1::HeartbeatRequest& r);
absl::Status ValidateReportPoints(const sparsescale::v1::ReportPointsRequest& r);
absl::Status ValidateCompleteJob(const sparsescale::v1::CompleteJobRequest& r);
absl::Status ValidateRendezvous(const sparsescale::v1::RendezvousRequest& r);
// The first message of an upload (worker_id and info).
absl::Status ValidateUploadStart(const sparsescale::v1::CheckpointUpload& first);
absl::Status ValidateChunk(const std::string& data, const std::string& field);

// Dataset RPCs (validate_datasets.cc). ValidatePutChunk also checks that data hashes to sha256
// (InvalidArgument naming `data`); ValidateDatasetRef takes a name or a hash.
absl::Status ValidateFindMissingChunks(const v1::FindMissingChunksRequest& r);
absl::Status ValidatePutChunk(const v1::PutChunkRequest& r);
absl::Status ValidateCommitDataset(const v1::CommitDatasetRequest& r);
absl::Status ValidateDatasetRef(const std::string& dataset, const std::string& field);
absl::Status ValidateDownloadChunks(const v1::DownloadChunksRequest& r);

absl::Status ValidateCreateSweep(const sparsescale::v1::CreateSweepRequest& r);
absl::Status ValidateSubmitJob(const sparsescale::v1::SubmitJobRequest& r);
absl::Status ValidateCancelJob(const sparsescale::v1::CancelJobRequest& r);
// The lifecycle calls that name one job or sweep: request_id and id both required.
absl::Status ValidateIdRequest(const std::string& request_id, const std::string& id);
absl::Status ValidateSetJobPriority(const sparsescale::v1::SetJobPriorityRequest& r);
absl::Status ValidateListJobs(const sparsescale::v1::ListJobsRequest& r);
absl::Status ValidateGetLossCurve(const sparsescale::v1::GetLossCurveRequest& r);
absl::Status ValidateDownload(const sparsescale::v1::DownloadCheckpointRequest& r);
absl::Status ValidateReportLogs(const sparsescale::v1::ReportLogsRequest& r);
absl::Status ValidateStreamJobLogs(const sparsescale::v1::StreamJobLogsRequest& r);
absl::Status ValidateFitLaw(const sparsescale::v1::FitLawRequest& r);
absl::Status ValidateOptimalSparsity(const sparsescale::v1::OptimalSparsityRequest& r);

// An id-like field: non-empty, at most 128 printable ASCII characters.
absl::Status ValidateId(const std::string& value, const std::string& field);

// Page tokens are decimal positions from a previous response ("" = from the start).
absl::StatusOr<int64_t> ParsePageToken(const std::string& token, const std::string& field);
// page_size: 0 = default; otherwise 1..kMaxPageSize.
absl::StatusOr<int> PageSize(int requested, const std::string& field);

}  // namespace sparsescale::coordinator

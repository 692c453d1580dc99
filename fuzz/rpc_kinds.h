// The first byte of an rpc_validate input, modulo kRpcKindCount, names the request message the
// rest of the input is parsed as. Shared by the target and the seed writer.
#pragma once

#include <cstdint>

namespace sparsescale::fuzz {

enum RpcKind : uint8_t {
  kRegisterWorker, kAcquireLease, kHeartbeat, kReportPoints, kCompleteJob, kRendezvous,
  kCheckpointUpload, kReportLogs, kCreateSweep, kGetSweep, kListSweeps, kSubmitJob, kGetJob,
  kListJobs, kCancelJob, kWatchJob, kGetLossCurve, kListCheckpoints, kDownloadCheckpoint,
  kFitLaw, kOptimalSparsity, kStreamJobLogs, kRetryJob, kSetJobPriority, kDeleteJob,
  kCancelSweep, kDeleteSweep, kFindMissingChunks, kPutChunk, kCommitDataset, kGetDataset,
  kDeleteDataset, kDownloadChunks, kRpcKindCount
};

}  // namespace sparsescale::fuzz

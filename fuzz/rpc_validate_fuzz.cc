// Fuzz target rpc_validate: the first byte picks one RPC's request message, the rest is parsed
// as that proto and run through the coordinator's validation exactly as the service handler does
// (coordinator/api/validate.h; for CreateSweep and SubmitJob also PrepareJob and ExpandSweep,
// which the handler runs next). Inputs that fail to parse are dropped, as gRPC drops them.
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "coordinator/api/validate.h"
#include "coordinator/core/job_rules.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/rpc_kinds.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace {

namespace v1 = sparsescale::v1;
namespace coord = sparsescale::coordinator;

// Sweeps larger than this are validated but not expanded (each cell is a full PrepareJob, so a
// 100,000-cell sweep would only slow the fuzzer down without reaching new code).
constexpr int64_t kMaxExpandedCells = 64;

int64_t CellCount(const v1::SweepAxes& axes) {
  int64_t cells = 1;
  for (int n : {axes.nonzeros_size(), axes.sparsities_size(), axes.tokens_size(),
                axes.structures_size(), axes.seeds_size()}) {
    cells *= std::max(n, 1);
    if (cells > kMaxExpandedCells) return cells;
  }
  return cells;
}

template <typename Request>
std::function<void(const std::string&)> Check(
    std::function<void(const Request&)> validate) {
  return [validate](const std::string& bytes) {
    Request request;
    if (!request.ParseFromString(bytes)) return;
    validate(request);
  };
}

template <typename Request>
void ListPage(const Request& r) {
  (void)coord::ParsePageToken(r.page_token(), "page_token");
  (void)coord::PageSize(r.page_size(), "page_size");
}

void CreateSweep(const v1::CreateSweepRequest& r) {
  if (!coord::ValidateCreateSweep(r).ok()) return;
  (void)coord::PrepareJob(r.base(), "base.");
  if (CellCount(r.axes()) <= kMaxExpandedCells) {
    auto cells = coord::ExpandSweep(r.base(), r.axes());
    if (cells.ok()) {
      for (const auto& cell : *cells) (void)coord::PrepareJob(cell.spec, "base.");
    }
  }
  (void)coord::SweepId(r.base(), r.axes());
}

void SubmitJob(const v1::SubmitJobRequest& r) {
  if (coord::ValidateSubmitJob(r).ok()) (void)coord::PrepareJob(r.spec(), "spec.");
}

void Upload(const v1::CheckpointUpload& r) {
  (void)coord::ValidateUploadStart(r);
  (void)coord::ValidateChunk(r.data(), "data");
}

const std::vector<std::function<void(const std::string&)>>& Validators() {
  static const auto* validators = new std::vector<std::function<void(const std::string&)>>{
      Check<v1::RegisterWorkerRequest>([](auto& r) { (void)coord::ValidateRegisterWorker(r); }),
      Check<v1::AcquireLeaseRequest>([](auto& r) { (void)coord::ValidateAcquireLease(r); }),
      Check<v1::HeartbeatRequest>([](auto& r) { (void)coord::ValidateHeartbeat(r); }),
      Check<v1::ReportPointsRequest>([](auto& r) { (void)coord::ValidateReportPoints(r); }),
      Check<v1::CompleteJobRequest>([](auto& r) { (void)coord::ValidateCompleteJob(r); }),
      Check<v1::RendezvousRequest>([](auto& r) { (void)coord::ValidateRendezvous(r); }),
      Check<v1::CheckpointUpload>(Upload),
      Check<v1::ReportLogsRequest>([](auto& r) { (void)coord::ValidateReportLogs(r); }),
      Check<v1::CreateSweepRequest>(CreateSweep),
      Check<v1::GetSweepRequest>([](auto& r) { (void)coord::ValidateId(r.id(), "id"); }),
      Check<v1::ListSweepsRequest>([](auto& r) { ListPage(r); }),
      Check<v1::SubmitJobRequest>(SubmitJob),
      Check<v1::GetJobRequest>([](auto& r) { (void)coord::ValidateId(r.id(), "id"); }),
      Check<v1::ListJobsRequest>([](auto& r) {
        (void)coord::ValidateListJobs(r);
        ListPage(r);
      }),
      Check<v1::CancelJobRequest>([](auto& r) { (void)coord::ValidateCancelJob(r); }),
      Check<v1::WatchJobRequest>([](auto& r) { (void)coord::ValidateId(r.id(), "id"); }),
      Check<v1::GetLossCurveRequest>([](auto& r) { (void)coord::ValidateGetLossCurve(r); }),
      Check<v1::ListCheckpointsRequest>(
          [](auto& r) { (void)coord::ValidateId(r.job_id(), "job_id"); }),
      Check<v1::DownloadCheckpointRequest>([](auto& r) { (void)coord::ValidateDownload(r); }),
      Check<v1::FitLawRequest>([](auto& r) { (void)coord::ValidateFitLaw(r); }),
      Check<v1::OptimalSparsityRequest>(
          [](auto& r) { (void)coord::ValidateOptimalSparsity(r); }),
      Check<v1::StreamJobLogsRequest>([](auto& r) { (void)coord::ValidateStreamJobLogs(r); }),
      Check<v1::RetryJobRequest>(
          [](auto& r) { (void)coord::ValidateIdRequest(r.request_id(), r.id()); }),
      Check<v1::SetJobPriorityRequest>([](auto& r) { (void)coord::ValidateSetJobPriority(r); }),
      Check<v1::DeleteJobRequest>(
          [](auto& r) { (void)coord::ValidateIdRequest(r.request_id(), r.id()); }),
      Check<v1::CancelSweepRequest>(
          [](auto& r) { (void)coord::ValidateIdRequest(r.request_id(), r.id()); }),
      Check<v1::DeleteSweepRequest>(
          [](auto& r) { (void)coord::ValidateIdRequest(r.request_id(), r.id()); }),
      Check<v1::FindMissingChunksRequest>(
          [](auto& r) { (void)coord::ValidateFindMissingChunks(r); }),
      Check<v1::PutChunkRequest>([](auto& r) { (void)coord::ValidatePutChunk(r); }),
      Check<v1::CommitDatasetRequest>([](auto& r) { (void)coord::ValidateCommitDataset(r); }),
      Check<v1::GetDatasetRequest>(
          [](auto& r) { (void)coord::ValidateDatasetRef(r.dataset(), "dataset"); }),
      Check<v1::DeleteDatasetRequest>(
          [](auto& r) { (void)coord::ValidateDatasetRef(r.dataset(), "dataset"); }),
      Check<v1::DownloadChunksRequest>([](auto& r) { (void)coord::ValidateDownloadChunks(r); }),
  };
  return *validators;
}

// One validator per RpcKind, in the enum's order.
const bool kValidatorsComplete = [] {
  SPARSESCALE_FUZZ_CHECK(Validators().size() == sparsescale::fuzz::kRpcKindCount);
  return true;
}();

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& validators = Validators();
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  validators[data[0] % validators.size()](bytes);
  return 0;
}

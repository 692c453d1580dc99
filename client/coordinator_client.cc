#include "client/coordinator_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"
#include "sparsescale/v1/coordinator.grpc.pb.h"
#include "transport/channel_security.h"

namespace sparsescale::client {

namespace v1 = sparsescale::v1;

struct CoordinatorClient::Impl {
  transport::ChannelSecurity security;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::ClientService::Stub> stub;
};

namespace {

using Stub = v1::ClientService::Stub;

// Set by the client's constructor for the process (one security setting per process in
// practice); only used to explain UNAVAILABLE.
const transport::ChannelSecurity*& LastSecurity() {
  static const transport::ChannelSecurity* security = nullptr;
  return security;
}

absl::Status ToAbsl(const grpc::Status& s, const std::string& address) {
  if (s.ok()) {
    return absl::OkStatus();
  }
  auto code = static_cast<absl::StatusCode>(s.error_code());
  if (code == absl::StatusCode::kUnavailable) {
    const std::string message = LastSecurity() == nullptr ? s.error_message()
                                                          : transport::ExplainUnavailable(
                                                                *LastSecurity(), s.error_message());
    return absl::UnavailableError(
        absl::StrCat("coordinator at ", address, " unreachable: ", message));
  }
  return absl::Status(code, s.error_message());
}

}  // namespace

CoordinatorClient::CoordinatorClient(const std::string& address, ClientOptions options)
    : address_(address), options_(options), impl_(std::make_unique<Impl>()) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(64 << 20);  // big curves and job lists
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);  // a whole 4 MiB chunk in flight
  impl_->security = options_.security;
  auto credentials = transport::ChannelCredentials(impl_->security);
  if (!credentials.ok()) {
    // Unreadable TLS files surface from every call as the channel cannot connect; the CLI
    // resolves them first and reports the file (ResolveSecurity / ChannelCredentials).
    credentials = grpc::SslCredentials(grpc::SslCredentialsOptions{});
  }
  LastSecurity() = &impl_->security;
  impl_->channel = grpc::CreateCustomChannel(address, *credentials, args);
  impl_->stub = v1::ClientService::NewStub(impl_->channel);
}

CoordinatorClient::~CoordinatorClient() = default;

// Runs one unary call with the configured deadline.
template <typename Request, typename Response>
static absl::StatusOr<Response> Call(const CoordinatorClient::Impl& impl,
                                     const std::string& address, std::chrono::milliseconds deadline,
                                     const Request& request,
                                     grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                  const Request&, Response*)) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  transport::AttachToken(impl.security, &context);
  Response response;
  grpc::Status status = (impl.stub.get()->*method)(&context, request, &response);
  if (!status.ok()) {
    return ToAbsl(status, address);
  }
  return response;
}

absl::Status CoordinatorClient::WaitUntilReady(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::system_clock::now() + timeout;
  if (!impl_->channel->WaitForConnected(deadline)) {
    return absl::UnavailableError(absl::StrCat("coordinator at ", address_, " unreachable (no ",
                                               "connection within ", timeout.count(), " ms)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::CreateSweepResponse> CoordinatorClient::CreateSweep(
    const v1::CreateSweepRequest& request) {
  return Call(*impl_, address_, options_.deadline, request, &Stub::CreateSweep);
}

absl::StatusOr<v1::Sweep> CoordinatorClient::GetSweep(const std::string& id) {
  v1::GetSweepRequest request;
  request.set_id(id);
  return Call(*impl_, address_, options_.deadline, request, &Stub::GetSweep);
}

absl::StatusOr<std::vector<v1::Sweep>> CoordinatorClient::ListSweeps() {
  std::vector<v1::Sweep> sweeps;
  v1::ListSweepsRequest request;
  request.set_page_size(100);
  do {
    auto page = Call(*impl_, address_, options_.deadline, request, &Stub::ListSweeps);
    if (!page.ok()) {
      return page.status();
    }
    sweeps.insert(sweeps.end(), page->sweeps().begin(), page->sweeps().end());
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return sweeps;
}

absl::StatusOr<v1::SubmitJobResponse> CoordinatorClient::SubmitJob(
    const v1::SubmitJobRequest& request) {
  return Call(*impl_, address_, options_.deadline, request, &Stub::SubmitJob);
}

absl::StatusOr<v1::Job> CoordinatorClient::GetJob(const std::string& id) {
  v1::GetJobRequest request;
  request.set_id(id);
  return Call(*impl_, address_, options_.deadline, request, &Stub::GetJob);
}

absl::StatusOr<std::vector<v1::Job>> CoordinatorClient::ListJobs(
    const std::string& sweep_id, const std::vector<v1::JobState>& states) {
  std::vector<v1::Job> jobs;
  v1::ListJobsRequest request;
  request.set_sweep_id(sweep_id);
  for (v1::JobState s : states) {
    request.add_states(s);
  }
  request.set_page_size(1000);
  do {
    auto page = Call(*impl_, address_, options_.deadline, request, &Stub::ListJobs);
    if (!page.ok()) {
      return page.status();
    }
    jobs.insert(jobs.end(), page->jobs().begin(), page->jobs().end());
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return jobs;
}

absl::StatusOr<v1::Job> CoordinatorClient::CancelJob(const std::string& request_id,
                                                     const std::string& id) {
  v1::CancelJobRequest request;
  request.set_request_id(request_id);
  request.set_id(id);
  return Call(*impl_, address_, options_.deadline, request, &Stub::CancelJob);
}

namespace {

// A lifecycle request: request_id and id.
template <typename Request>
Request IdRequest(const std::string& request_id, const std::string& id) {
  Request request;
  request.set_request_id(request_id);
  request.set_id(id);
  return request;
}

}  // namespace

absl::StatusOr<v1::Job> CoordinatorClient::RetryJob(const std::string& request_id,
                                                    const std::string& id) {
  return Call(*impl_, address_, options_.deadline, IdRequest<v1::RetryJobRequest>(request_id, id),
              &Stub::RetryJob);
}

absl::StatusOr<v1::Job> CoordinatorClient::SetJobPriority(const std::string& request_id,
                                                          const std::string& id, int priority) {
  auto request = IdRequest<v1::SetJobPriorityRequest>(request_id, id);
  request.set_priority(priority);
  return Call(*impl_, address_, options_.deadline, request, &Stub::SetJobPriority);
}

absl::StatusOr<v1::DeleteJobResponse> CoordinatorClient::DeleteJob(const std::string& request_id,
                                                                   const std::string& id) {
  return Call(*impl_, address_, options_.deadline, IdRequest<v1::DeleteJobRequest>(request_id, id),
              &Stub::DeleteJob);
}

absl::StatusOr<v1::CancelSweepResponse> CoordinatorClient::CancelSweep(
    const std::string& request_id, const std::string& id) {
  return Call(*impl_, address_, options_.deadline,
              IdRequest<v1::CancelSweepRequest>(request_id, id), &Stub::CancelSweep);
}

absl::StatusOr<v1::DeleteSweepResponse> CoordinatorClient::DeleteSweep(
    const std::string& request_id, const std::string& id) {
  return Call(*impl_, address_, options_.deadline,
              IdRequest<v1::DeleteSweepRequest>(request_id, id), &Stub::DeleteSweep);
}

absl::Status CoordinatorClient::WatchJob(const std::string& id,
                                         const std::function<bool(const v1::JobEvent&)>& on_event) {
  grpc::ClientContext context;
  transport::AttachToken(impl_->security, &context);
  v1::WatchJobRequest request;
  request.set_id(id);
  auto reader = impl_->stub->WatchJob(&context, request);
  v1::JobEvent event;
  while (reader->Read(&event)) {
    if (!on_event(event)) {
      context.TryCancel();
      reader->Finish().ok();
      return absl::OkStatus();
    }
  }
  return ToAbsl(reader->Finish(), address_);
}

absl::StatusOr<v1::GetLossCurveResponse> CoordinatorClient::GetLossCurve(const std::string& job_id,
                                                                         int max_points) {
  v1::GetLossCurveRequest request;
  request.set_job_id(job_id);
  request.set_max_points(max_points);
  return Call(*impl_, address_, options_.deadline, request, &Stub::GetLossCurve);
}

absl::StatusOr<v1::ListCheckpointsResponse> CoordinatorClient::ListCheckpoints(
    const std::string& job_id) {
  v1::ListCheckpointsRequest request;
  request.set_job_id(job_id);
  return Call(*impl_, address_, options_.deadline, request, &Stub::ListCheckpoints);
}

absl::Status CoordinatorClient::StreamLogs(
    const v1::StreamJobLogsRequest& request,
    const std::function<bool(const v1::LogChunk&)>& on_chunk) {
  grpc::ClientContext context;
  transport::AttachToken(impl_->security, &context);
  auto reader = impl_->stub->StreamJobLogs(&context, request);
  v1::LogChunk chunk;
  while (reader->Read(&chunk)) {
    if (!on_chunk(chunk)) {
      context.TryCancel();
      reader->Finish().ok();
      return absl::OkStatus();
    }
  }
  return ToAbsl(reader->Finish(), address_);
}

namespace {

// Hashes the bytes already in `part` (a resumed download) into `sha`; returns their count.
absl::StatusOr<int64_t> HashExisting(const std::string& part, Sha256& sha) {
  std::ifstream in(part, std::ios::binary);
  if (!in) {
    return 0;  // nothing to resume
  }
  std::string buffer(1 << 20, '\0');
  int64_t size = 0;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<size_t>(in.gcount());
    sha.Update(std::string_view(buffer).substr(0, got));
    size += static_cast<int64_t>(got);
  }
  if (in.bad()) {
    return absl::InternalError(absl::StrCat("cannot read ", part));
  }
  return size;
}

}  // namespace

absl::StatusOr<v1::CheckpointInfo> CoordinatorClient::DownloadCheckpoint(const std::string& job_id,
                                                                         int64_t step,
                                                                         const std::string& path) {
  const std::string part = path + ".part";
  Sha256 sha;
  absl::StatusOr<int64_t> have = HashExisting(part, sha);
  if (!have.ok()) {
    return have.status();
  }
  std::ofstream out(part, std::ios::binary | std::ios::app);
  if (!out) {
    return absl::InternalError(absl::StrCat("cannot write ", part));
  }
  v1::DownloadCheckpointRequest request;
  request.set_job_id(job_id);
  request.set_step(step);
  request.set_offset(*have);
  grpc::ClientContext context;
  transport::AttachToken(impl_->security, &context);
  auto reader = impl_->stub->DownloadCheckpoint(&context, request);
  v1::CheckpointChunk chunk;
  v1::CheckpointInfo info;
  int64_t size = *have;
  while (reader->Read(&chunk)) {
    if (chunk.has_info()) {
      info = chunk.info();
    }
    sha.Update(chunk.data());
    size += static_cast<int64_t>(chunk.data().size());
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
  }
  out.close();
  RETURN_IF_ERROR(ToAbsl(reader->Finish(), address_));
  if (!out) {
    return absl::InternalError(absl::StrCat("cannot write ", part));
  }
  const std::string digest = Sha256::ToHex(sha.Finish());
  if (size != info.size_bytes() || digest != info.sha256()) {
    std::error_code ec;
    std::filesystem::remove(part, ec);
    return absl::DataLossError(
        absl::StrCat("checkpoint of job ", job_id, " step ", info.step(), ": got ", size,
                     " bytes with sha256 ", digest, ", the coordinator stored ", info.size_bytes(),
                     " bytes with sha256 ", info.sha256(), "; removed ", part, ", download again"));
  }
  std::error_code ec;
  std::filesystem::rename(part, path, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", part, " to ", path, ": ", ec.message()));
  }
  return info;
}

absl::StatusOr<v1::GetClusterStatusResponse> CoordinatorClient::GetClusterStatus() {
  return Call(*impl_, address_, options_.deadline, v1::GetClusterStatusRequest(),
              &Stub::GetClusterStatus);
}

absl::StatusOr<v1::FitLawResponse> CoordinatorClient::FitLaw(const v1::FitLawRequest& request) {
  // Fitting runs many starts server-side: allow it more time than a lookup.
  return Call(*impl_, address_, options_.deadline * 8, request, &Stub::FitLaw);
}

absl::StatusOr<v1::OptimalSparsityResponse> CoordinatorClient::OptimalSparsity(
    const v1::OptimalSparsityRequest& request) {
  return Call(*impl_, address_, options_.deadline, request, &Stub::OptimalSparsity);
}

std::string NewClientRequestId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat("c-", absl::Hex(rng(), absl::kZeroPad16),
                      absl::Hex(rng() & 0xffffffffu, absl::kZeroPad8));
}

std::string DefaultCoordinatorAddress() {
  const char* env = std::getenv("SPARSESCALE_COORDINATOR");
  return env != nullptr && env[0] != '\0' ? std::string(env) : std::string("127.0.0.1:7070");
}

absl::StatusOr<v1::CreateTokenResponse> CoordinatorClient::CreateToken(
    const v1::CreateTokenRequest& request) {
  return Call(*impl_, address_, options_.deadline, request, &Stub::CreateToken);
}

absl::StatusOr<v1::ListTokensResponse> CoordinatorClient::ListTokens() {
  return Call(*impl_, address_, options_.deadline, v1::ListTokensRequest(), &Stub::ListTokens);
}

absl::StatusOr<v1::RevokeTokenResponse> CoordinatorClient::RevokeToken(const std::string& id) {
  v1::RevokeTokenRequest request;
  request.set_id(id);
  return Call(*impl_, address_, options_.deadline, request, &Stub::RevokeToken);
}

absl::StatusOr<v1::ListAuditResponse> CoordinatorClient::ListAudit(
    const v1::ListAuditRequest& request) {
  return Call(*impl_, address_, options_.deadline, request, &Stub::ListAudit);
}

absl::StatusOr<v1::FindMissingChunksResponse> CoordinatorClient::FindMissingChunks(
    const v1::FindMissingChunksRequest& request) {
  return Call(*impl_, address_, options_.deadline, request, &Stub::FindMissingChunks);
}

absl::StatusOr<v1::PutChunkResponse> CoordinatorClient::PutChunk(
    const v1::PutChunkRequest& request) {
  return Call(*impl_, address_, options_.deadline, request, &Stub::PutChunk);
}

absl::StatusOr<v1::CommitDatasetResponse> CoordinatorClient::CommitDataset(
    const v1::CommitDatasetRequest& request) {
  // The coordinator reads every chunk back to check the files' hashes: allow it time.
  return Call(*impl_, address_, std::max(options_.deadline, std::chrono::milliseconds(600000)),
              request, &Stub::CommitDataset);
}

absl::StatusOr<v1::ListDatasetsResponse> CoordinatorClient::ListDatasets() {
  return Call(*impl_, address_, options_.deadline, v1::ListDatasetsRequest(),
              &Stub::ListDatasets);
}

absl::StatusOr<v1::Dataset> CoordinatorClient::GetDataset(const std::string& name_or_hash) {
  v1::GetDatasetRequest request;
  request.set_dataset(name_or_hash);
  return Call(*impl_, address_, options_.deadline, request, &Stub::GetDataset);
}

absl::StatusOr<v1::DeleteDatasetResponse> CoordinatorClient::DeleteDataset(
    const std::string& name_or_hash) {
  v1::DeleteDatasetRequest request;
  request.set_dataset(name_or_hash);
  return Call(*impl_, address_, options_.deadline, request, &Stub::DeleteDataset);
}

}  // namespace sparsescale::client

// The gRPC implementation of WorkerRpc: the only file of the agent that includes gRPC.
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "sparsescale/v1/coordinator.grpc.pb.h"
#include "worker/agent/worker_rpc.h"

namespace sparsescale::agent {
namespace {

namespace v1 = sparsescale::v1;

absl::Status ToAbsl(const grpc::Status& s, const transport::ChannelSecurity& security) {
  if (s.ok()) {
    return absl::OkStatus();
  }
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return absl::UnavailableError(transport::ExplainUnavailable(security, s.error_message()));
  }
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

class GrpcWorkerRpc : public WorkerRpc {
 public:
  GrpcWorkerRpc(const std::string& address, const GrpcWorkerRpcOptions& options)
      : options_(options) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                static_cast<int>(options.max_reconnect_backoff.count()));
    args.SetMaxReceiveMessageSize(16 << 20);  // dataset chunks are up to 4 MiB
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);  // a whole chunk in flight
    auto credentials = transport::ChannelCredentials(options.security);
    if (!credentials.ok()) {
      credentials_error_ = credentials.status();
      credentials = grpc::InsecureChannelCredentials();
    }
    auto channel = grpc::CreateCustomChannel(address, *credentials, args);
    stub_ = v1::WorkerService::NewStub(channel);
  }

  absl::StatusOr<v1::RegisterWorkerResponse> RegisterWorker(
      const v1::RegisterWorkerRequest& request) override {
    return Unary(request, options_.call_deadline, &v1::WorkerService::Stub::RegisterWorker);
  }

  absl::StatusOr<v1::AcquireLeaseResponse> AcquireLease(
      const v1::AcquireLeaseRequest& request) override {
    auto deadline = std::chrono::milliseconds(request.wait_ms()) + options_.call_deadline;
    return Unary(request, deadline, &v1::WorkerService::Stub::AcquireLease);
  }

  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request) override {
    return Unary(request, options_.call_deadline, &v1::WorkerService::Stub::Heartbeat);
  }

  absl::StatusOr<v1::ReportPointsResponse> ReportPoints(
      const v1::ReportPointsRequest& request) override {
    return Unary(request, options_.call_deadline, &v1::WorkerService::Stub::ReportPoints);
  }

  absl::StatusOr<v1::CheckpointInfo> UploadCheckpoint(const std::string& worker_id,
                                                      const v1::CheckpointInfo& info,
                                                      const ChunkSource& source) override;

  absl::Status DownloadCheckpoint(const v1::DownloadCheckpointRequest& request,
                                  const InfoSink& on_info, const DataSink& on_data) override;

  absl::StatusOr<v1::CompleteJobResponse> CompleteJob(
      const v1::CompleteJobRequest& request) override {
    return Unary(request, options_.call_deadline, &v1::WorkerService::Stub::CompleteJob);
  }

  absl::StatusOr<v1::ReportLogsResponse> ReportLogs(const v1::ReportLogsRequest& request) override {
    return Unary(request, options_.call_deadline, &v1::WorkerService::Stub::ReportLogs);
  }

  absl::StatusOr<v1::Dataset> GetDataset(const v1::GetDatasetRequest& request) override {
    return Unary(request, options_.call_deadline, &v1::WorkerService::Stub::GetDataset);
  }

  absl::Status DownloadChunks(const v1::DownloadChunksRequest& request,
                              const DatasetChunkSink& on_chunk) override;

  absl::StatusOr<v1::RendezvousResponse> Rendezvous(const v1::RendezvousRequest& request) override {
    auto deadline = std::chrono::milliseconds(request.wait_ms()) + options_.call_deadline;
    return Unary(request, deadline, &v1::WorkerService::Stub::Rendezvous);
  }

 private:
  template <typename Request, typename Response>
  absl::StatusOr<Response> Unary(const Request& request, std::chrono::milliseconds deadline,
                                 grpc::Status (v1::WorkerService::Stub::*method)(
                                     grpc::ClientContext*, const Request&, Response*)) {
    if (!credentials_error_.ok()) {
      return absl::UnavailableError(credentials_error_.message());
    }
    grpc::ClientContext context;
    transport::AttachToken(options_.security, &context);
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    Response response;
    grpc::Status status = (stub_.get()->*method)(&context, request, &response);
    if (!status.ok()) {
      return ToAbsl(status, options_.security);
    }
    return response;
  }

  GrpcWorkerRpcOptions options_;
  absl::Status credentials_error_;  // an unreadable TLS file: every call answers it
  std::unique_ptr<v1::WorkerService::Stub> stub_;
};

absl::StatusOr<v1::CheckpointInfo> GrpcWorkerRpc::UploadCheckpoint(const std::string& worker_id,
                                                                   const v1::CheckpointInfo& info,
                                                                   const ChunkSource& source) {
  grpc::ClientContext context;
  transport::AttachToken(options_.security, &context);
  context.set_deadline(std::chrono::system_clock::now() + options_.transfer_deadline);
  v1::UploadCheckpointResponse response;
  auto writer = stub_->UploadCheckpoint(&context, &response);
  v1::CheckpointUpload first;
  first.set_worker_id(worker_id);
  *first.mutable_info() = info;
  bool open = writer->Write(first);
  absl::Status source_error;
  while (open) {
    v1::CheckpointUpload chunk;
    absl::StatusOr<bool> more = source(chunk.mutable_data());
    if (!more.ok()) {
      source_error = more.status();
      context.TryCancel();
      break;
    }
    if (!*more) {
      break;
    }
    open = writer->Write(chunk);  // Only the first message carries worker_id and info.
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!source_error.ok()) {
    return source_error;
  }
  if (!status.ok()) {
    return ToAbsl(status, options_.security);
  }
  return response.info();
}

absl::Status GrpcWorkerRpc::DownloadCheckpoint(const v1::DownloadCheckpointRequest& request,
                                               const InfoSink& on_info, const DataSink& on_data) {
  grpc::ClientContext context;
  transport::AttachToken(options_.security, &context);
  context.set_deadline(std::chrono::system_clock::now() + options_.transfer_deadline);
  auto reader = stub_->DownloadCheckpoint(&context, request);
  v1::CheckpointChunk chunk;
  bool have_info = false;
  absl::Status sink_error;
  while (sink_error.ok() && reader->Read(&chunk)) {
    if (chunk.has_info() && !have_info) {
      have_info = true;
      sink_error = on_info(chunk.info());
    }
    if (sink_error.ok() && !chunk.data().empty()) {
      if (!have_info) {
        sink_error = absl::DataLossError("checkpoint download: data before the info chunk");
      } else {
        sink_error = on_data(chunk.data());
      }
    }
  }
  if (!sink_error.ok()) {
    context.TryCancel();
    reader->Finish();
    return sink_error;
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) {
    return ToAbsl(status, options_.security);
  }
  if (!have_info) {
    return absl::DataLossError("checkpoint download: the stream carried no info chunk");
  }
  return absl::OkStatus();
}

absl::Status GrpcWorkerRpc::DownloadChunks(const v1::DownloadChunksRequest& request,
                                           const DatasetChunkSink& on_chunk) {
  if (!credentials_error_.ok()) {
    return absl::UnavailableError(credentials_error_.message());
  }
  grpc::ClientContext context;
  transport::AttachToken(options_.security, &context);
  context.set_deadline(std::chrono::system_clock::now() + options_.transfer_deadline);
  auto reader = stub_->DownloadChunks(&context, request);
  v1::DatasetChunk chunk;
  absl::Status sink_error;
  while (sink_error.ok() && reader->Read(&chunk)) {
    sink_error = on_chunk(chunk);
  }
  if (!sink_error.ok()) {
    context.TryCancel();
    reader->Finish();
    return sink_error;
  }
  return ToAbsl(reader->Finish(), options_.security);
}

}  // namespace

std::unique_ptr<WorkerRpc> MakeGrpcWorkerRpc(const std::string& address,
                                             const GrpcWorkerRpcOptions& options) {
  return std::make_unique<GrpcWorkerRpc>(address, options);
}

}  // namespace sparsescale::agent

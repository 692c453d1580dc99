// Writes the seed inputs that come from the project's own writers into fuzz/corpus/:
//   fuzz_write_seeds <repo>/fuzz/corpus
// a tiny real safetensors checkpoint and token shard, one event line of each kind, and one valid
// request per RPC (first byte: its RpcKind). The text seeds (spec, sweep, study, law files) are
// copies of configs/ and data/paper/ lines, committed as they are.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "fuzz/rpc_kinds.h"
#include "sparsescale/v1/coordinator.pb.h"
#include "spec/testing.h"
#include "worker/agent/job_events.h"
#include "worker/trainer/safetensors.h"
#include "worker/trainer/shard.h"

namespace {

namespace v1 = sparsescale::v1;
namespace fs = std::filesystem;
using sparsescale::fuzz::RpcKind;

void Write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

void WriteRequest(const fs::path& dir, const std::string& name, RpcKind kind,
                  const google::protobuf::Message& request) {
  Write(dir / "rpc_validate" / (name + ".bin"),
        std::string(1, static_cast<char>(kind)) + request.SerializeAsString());
}

void WriteRequests(const fs::path& dir) {
  const v1::JobSpec spec = sparsescale::spec::testing::TinySpec("data/tiny/train_*.bin", 40);
  v1::SubmitJobRequest submit;
  submit.set_request_id("req-1");
  *submit.mutable_spec() = spec;
  WriteRequest(dir, "submit_job", sparsescale::fuzz::kSubmitJob, submit);
  v1::CreateSweepRequest sweep;
  sweep.set_request_id("req-2");
  sweep.set_name("seed sweep");
  *sweep.mutable_base() = spec;
  sweep.mutable_axes()->add_nonzeros(20000);
  sweep.mutable_axes()->add_nonzeros(40000);
  sweep.mutable_axes()->add_sparsities(0);
  sweep.mutable_axes()->add_sparsities(0.5);
  WriteRequest(dir, "create_sweep", sparsescale::fuzz::kCreateSweep, sweep);
  v1::RegisterWorkerRequest reg;
  reg.set_request_id("req-3");
  reg.set_name("worker-a");
  reg.set_version("0.1.0");
  WriteRequest(dir, "register_worker", sparsescale::fuzz::kRegisterWorker, reg);
  v1::ReportPointsRequest points;
  points.set_worker_id("w-1");
  points.set_job_id("j-1");
  points.set_attempt(1);
  *points.add_points() = sparsescale::spec::testing::FullLossPoint();
  WriteRequest(dir, "report_points", sparsescale::fuzz::kReportPoints, points);
  v1::HeartbeatRequest beat;
  beat.set_worker_id("w-1");
  auto* lease = beat.add_leases();
  lease->set_job_id("j-1");
  lease->set_attempt(1);
  lease->set_step(12);
  WriteRequest(dir, "heartbeat", sparsescale::fuzz::kHeartbeat, beat);
  v1::CompleteJobRequest done;
  done.set_request_id("req-4");
  done.set_worker_id("w-1");
  done.set_job_id("j-1");
  done.set_attempt(1);
  done.set_outcome(v1::JOB_STATE_SUCCEEDED);
  done.set_final_train_loss(2.5);
  done.set_steps(40);
  WriteRequest(dir, "complete_job", sparsescale::fuzz::kCompleteJob, done);
  v1::ListJobsRequest list;
  list.set_page_size(10);
  list.set_page_token("100");
  list.add_states(v1::JOB_STATE_QUEUED);
  WriteRequest(dir, "list_jobs", sparsescale::fuzz::kListJobs, list);
  v1::AcquireLeaseRequest acquire;
  acquire.set_worker_id("w-1");
  acquire.set_wait_ms(1000);
  acquire.set_free_slots(1);
  WriteRequest(dir, "acquire_lease", sparsescale::fuzz::kAcquireLease, acquire);
  const std::string chunk = "tokens of one chunk";
  v1::PutChunkRequest put;
  put.set_dataset("web");
  put.set_sha256(sparsescale::Sha256Hex(chunk));
  put.set_data(chunk);
  WriteRequest(dir, "put_chunk", sparsescale::fuzz::kPutChunk, put);
  v1::CommitDatasetRequest commit;
  commit.set_name("web");
  v1::DatasetFile* file = commit.add_files();
  file->set_name("train_000000.bin");
  file->set_size_bytes(static_cast<int64_t>(chunk.size()));
  file->set_sha256(sparsescale::Sha256Hex(chunk));
  file->add_chunks(sparsescale::Sha256Hex(chunk));
  WriteRequest(dir, "commit_dataset", sparsescale::fuzz::kCommitDataset, commit);
}

void WriteTrainerFiles(const fs::path& dir) {
  sparsescale::trainer::SafetensorsWriter writer;
  const std::vector<float> weights = {0.5f, -1.25f, 3.0f, 0.0f, 2.0f, -0.75f};
  const std::vector<int64_t> step = {40};
  writer.AddF32("wte", {2, 3}, weights.data());
  writer.AddI64("step", {1}, step.data());
  writer.SetMetadata("format", "sparsescale");
  Write(dir / "safetensors" / "tiny.safetensors", writer.Serialize());
  const fs::path shard = dir / "shard" / "tiny.bin";
  fs::create_directories(shard.parent_path());
  auto written = sparsescale::trainer::WriteShard(
      shard.string(), sparsescale::trainer::ByteTokens("In the beginning God created"));
  if (!written.ok()) std::cerr << written << "\n";
}

void WriteEventLines(const fs::path& dir) {
  namespace agent = sparsescale::agent;
  const fs::path events = dir / "job_events";
  Write(events / "point.txt", agent::EncodePoint(sparsescale::spec::testing::FullLossPoint()));
  Write(events / "checkpoint.txt", agent::EncodeCheckpoint(50, "/work/j/ckpt-50.safetensors"));
  v1::JobProgress progress;
  progress.set_step(12);
  progress.set_total_steps(200);
  progress.set_train_loss(3.1);
  Write(events / "progress.txt", agent::EncodeProgress(progress));
  v1::JobSummary summary;
  summary.set_steps(200);
  summary.set_final_train_loss(2.5);
  Write(events / "done.txt", agent::EncodeDone(summary));
  Write(events / "stopped.txt", agent::EncodeStopped(57));
  Write(events / "error.txt",
        agent::EncodeError(absl::InvalidArgumentError("model.width: must be > 0, got 0")));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_write_seeds <repo>/fuzz/corpus\n";
    return 2;
  }
  const fs::path dir = argv[1];
  WriteRequests(dir);
  WriteTrainerFiles(dir);
  WriteEventLines(dir);
  return 0;
}

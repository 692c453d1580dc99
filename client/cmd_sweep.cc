// `sparsescale sweep create FILE | get ID | list | cancel ID | delete ID | watch ID`.
#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/command.h"
#include "client/coordinator_client.h"
#include "client/output.h"
#include "client/study.h"
#include "client/study_config.h"

namespace sparsescale::cli {
namespace {

namespace v1 = sparsescale::v1;
using client::CommonFlags;

struct SweepFlags {
  CommonFlags common;
  std::string file;
  std::string id;
  std::string request_id;
  int poll_ms = 2000;
  int checkpoint_keep_last = -1;  // -1: as the file says
};

void Out(const std::string& text) { std::fputs(text.c_str(), stdout); }

void Create(SweepFlags& f) {
  std::string text = client::OrFail(client::ReadTextFile(f.file));
  v1::CreateSweepRequest request = client::OrFail(client::ParseSweepJson(text));
  client::AbsolutizePaths(request.mutable_base());
  if (f.checkpoint_keep_last >= 0) {
    request.mutable_checkpoint_retention()->set_keep_last(f.checkpoint_keep_last);
  }
  request.set_request_id(f.request_id.empty() ? client::NewClientRequestId() : f.request_id);
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::CreateSweepResponse r = client::OrFail(c.CreateSweep(request));
  if (f.common.json) {
    Out(client::MessageToJson(r) + "\n");
    return;
  }
  Out(absl::StrCat("sweep ", r.sweep().id(), " \"", r.sweep().name(),
                   "\": ", r.sweep().job_ids_size(), " jobs (", r.jobs_created(), " new, ",
                   r.jobs_existing(), " already known)\n"));
}

void Get(SweepFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::Sweep sweep = client::OrFail(c.GetSweep(f.id));
  if (f.common.json) {
    Out(client::MessageToJson(sweep) + "\n");
    return;
  }
  Out(client::SweepDetail(sweep));
  Out("\n" + client::JobsTable(client::OrFail(c.ListJobs(sweep.id()))));
}

void List(SweepFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  std::vector<v1::Sweep> sweeps = client::OrFail(c.ListSweeps());
  if (f.common.json) {
    v1::ListSweepsResponse all;
    for (const v1::Sweep& s : sweeps) {
      *all.add_sweeps() = s;
    }
    Out(client::MessageToJson(all) + "\n");
    return;
  }
  Out(client::SweepsTable(sweeps));
}

std::string RequestId(const SweepFlags& f) {
  return f.request_id.empty() ? client::NewClientRequestId() : f.request_id;
}

void Cancel(SweepFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::CancelSweepResponse r = client::OrFail(c.CancelSweep(RequestId(f), f.id));
  if (f.common.json) {
    Out(client::MessageToJson(r) + "\n");
    return;
  }
  Out(absl::StrCat("sweep ", r.sweep().id(), ": ", r.jobs_cancelled(), " queued jobs cancelled, ",
                   r.jobs_stopping(), " running jobs stopping\n"));
}

void Delete(SweepFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::DeleteSweepResponse r = client::OrFail(c.DeleteSweep(RequestId(f), f.id));
  if (f.common.json) {
    Out(client::MessageToJson(r) + "\n");
    return;
  }
  Out(absl::StrCat("sweep ", r.id(), " deleted with ", r.deleted_job_ids_size(), " jobs\n"));
}

// Progress and ETA until every job is final; exit 1 when some failed or were cancelled.
void Watch(SweepFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  client::OrFail(c.GetSweep(f.id));  // NOT_FOUND before any waiting
  client::StopSignal stop;
  // With --json the progress lines go to stderr and stdout gets the final jobs.
  std::vector<v1::Job> jobs = client::OrFail(client::FollowSweep(
      c, f.id,
      {.poll_interval = std::chrono::milliseconds(f.poll_ms),
       .out = f.common.json ? stderr : stdout},
      std::chrono::steady_clock::now(), stop.stopped()));
  if (f.common.json) {
    v1::ListJobsResponse all;
    for (const v1::Job& job : jobs) {
      *all.add_jobs() = job;
    }
    Out(client::MessageToJson(all) + "\n");
  }
  for (const v1::Job& job : jobs) {
    if (job.state() != v1::JOB_STATE_SUCCEEDED) {
      throw CLI::RuntimeError(kExitFailure);
    }
  }
}

// One subcommand of `sweep` taking ID and --request-id.
CLI::App* IdCommand(CLI::App* sweep, SweepFlags& f, const std::string& name,
                    const std::string& help) {
  CLI::App* cmd = sweep->add_subcommand(name, help);
  cmd->add_option("ID", f.id, "sweep id")->required();
  cmd->add_option("--request-id", f.request_id, "idempotency key (default: random)");
  client::AddCommonFlags(cmd, &f.common);
  return cmd;
}

void Install(CLI::App& root) {
  static SweepFlags f;
  CLI::App* sweep = root.add_subcommand("sweep", "create and inspect sweeps");
  sweep->require_subcommand(1);

  CLI::App* create = sweep->add_subcommand(
      "create", "create a sweep from a JSON file {name, base, axes, priority, max_attempts}");
  create->add_option("FILE", f.file, "sweep file")->required();
  create->add_option("--request-id", f.request_id, "idempotency key (default: random)");
  create->add_option("--checkpoint-keep-last", f.checkpoint_keep_last,
                     "checkpoints the coordinator keeps per job of this sweep (the newest, so "
                     "the final one too); 0 = the coordinator's default; overrides the file's "
                     "checkpoint_retention")
      ->check(CLI::Range(0, 1000));
  client::AddCommonFlags(create, &f.common);
  create->callback([] { Create(f); });

  CLI::App* get = sweep->add_subcommand("get", "a sweep and its jobs");
  get->add_option("ID", f.id, "sweep id")->required();
  client::AddCommonFlags(get, &f.common);
  get->callback([] { Get(f); });

  CLI::App* list = sweep->add_subcommand("list", "all sweeps");
  client::AddCommonFlags(list, &f.common);
  list->callback([] { List(f); });

  IdCommand(sweep, f, "cancel", "cancel every queued or running job of a sweep")
      ->callback([] { Cancel(f); });
  IdCommand(sweep, f, "delete", "delete a finished sweep and the jobs only it asked for")
      ->callback([] { Delete(f); });
  CLI::App* watch = sweep->add_subcommand(
      "watch", "progress and ETA until every job ends (exit 0 when all succeeded, 1 otherwise)");
  watch->add_option("ID", f.id, "sweep id")->required();
  watch->add_option("--poll-ms", f.poll_ms, "poll interval")
      ->capture_default_str()
      ->check(CLI::Range(50, 600'000));
  client::AddCommonFlags(watch, &f.common);
  watch->callback([] { Watch(f); });
}

CommandRegistrar registrar(Install);

}  // namespace
}  // namespace sparsescale::cli

// `sparsescale job submit FILE | get ID | list | cancel ID | watch ID | logs ID | retry ID |
// delete ID | priority ID N` and `sparsescale curve JOB`.
#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli_util.h"
#include "client/command.h"
#include "client/coordinator_client.h"
#include "client/output.h"
#include "client/study_config.h"
#include "spec/job_spec.h"

namespace sparsescale::cli {
namespace {

namespace v1 = sparsescale::v1;
using client::CommonFlags;

struct JobFlags {
  CommonFlags common;
  std::string file;
  std::string id;
  std::string request_id;
  std::string sweep;
  std::vector<std::string> states;
  int priority = 0;
  int max_attempts = 0;
  int max_points = 0;
  int attempt = 0;
  bool follow = false;
};

void Out(const std::string& text) { std::fputs(text.c_str(), stdout); }

void Submit(JobFlags& f) {
  std::string text = client::OrFail(client::ReadTextFile(f.file));
  v1::SubmitJobRequest request;
  *request.mutable_spec() = client::OrFail(spec::ParseJobSpecJson(text));
  client::AbsolutizePaths(request.mutable_spec());
  request.set_request_id(f.request_id.empty() ? client::NewClientRequestId() : f.request_id);
  request.set_priority(f.priority);
  request.set_max_attempts(f.max_attempts);
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::SubmitJobResponse r = client::OrFail(c.SubmitJob(request));
  if (f.common.json) {
    Out(client::MessageToJson(r) + "\n");
    return;
  }
  Out(absl::StrCat("job ", r.job().id(), r.created() ? " submitted" : " already exists", " (",
                   client::StateName(r.job().state()), ")\n"));
}

void Get(JobFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::Job job = client::OrFail(c.GetJob(f.id));
  Out(f.common.json ? client::MessageToJson(job) + "\n" : client::JobDetail(job));
}

void List(JobFlags& f) {
  std::vector<v1::JobState> states;
  for (const std::string& s : f.states) {
    states.push_back(client::OrFail(client::ParseState(s)));
  }
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  std::vector<v1::Job> jobs = client::OrFail(c.ListJobs(f.sweep, states));
  if (f.common.json) {
    v1::ListJobsResponse all;
    for (const v1::Job& j : jobs) {
      *all.add_jobs() = j;
    }
    Out(client::MessageToJson(all) + "\n");
    return;
  }
  Out(client::JobsTable(jobs));
}

void Cancel(JobFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  std::string request_id = f.request_id.empty() ? client::NewClientRequestId() : f.request_id;
  v1::Job job = client::OrFail(c.CancelJob(request_id, f.id));
  Out(f.common.json
          ? client::MessageToJson(job) + "\n"
          : absl::StrCat("job ", job.id(), ": ", client::StateName(job.state()),
                         job.state() == v1::JOB_STATE_RUNNING ? " (stopping)" : "", "\n"));
}

std::string RequestId(const JobFlags& f) {
  return f.request_id.empty() ? client::NewClientRequestId() : f.request_id;
}

void Retry(JobFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::Job job = client::OrFail(c.RetryJob(RequestId(f), f.id));
  Out(f.common.json ? client::MessageToJson(job) + "\n"
                    : absl::StrCat("job ", job.id(), ": queued again, resuming from step ",
                                   job.checkpoint_step(), "\n"));
}

void Delete(JobFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::DeleteJobResponse r = client::OrFail(c.DeleteJob(RequestId(f), f.id));
  Out(f.common.json ? client::MessageToJson(r) + "\n" : absl::StrCat("job ", r.id(), " deleted\n"));
}

void Priority(JobFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::Job job = client::OrFail(c.SetJobPriority(RequestId(f), f.id, f.priority));
  Out(f.common.json ? client::MessageToJson(job) + "\n"
                    : absl::StrCat("job ", job.id(), ": priority ", job.priority(), "\n"));
}

// One lifecycle subcommand of `job` taking ID and --request-id.
CLI::App* IdCommand(CLI::App* job, JobFlags& f, const std::string& name,
                    const std::string& help) {
  CLI::App* cmd = job->add_subcommand(name, help);
  cmd->add_option("ID", f.id, "job id")->required();
  cmd->add_option("--request-id", f.request_id, "idempotency key (default: random)");
  client::AddCommonFlags(cmd, &f.common);
  return cmd;
}

std::string EventLine(const v1::JobEvent& e) {
  const v1::Job& j = e.job();
  std::string line =
      absl::StrFormat("%s  step %d/%d", client::StateName(j.state()), j.step(), j.total_steps());
  if (j.step() > 0) {
    absl::StrAppend(&line, "  train ", client::FormatLoss(j.last_train_loss()));
  }
  if (j.has_last_eval_loss()) {
    absl::StrAppend(&line, "  eval ", client::FormatLoss(j.last_eval_loss()));
  }
  if (!j.worker_id().empty() && j.state() == v1::JOB_STATE_RUNNING) {
    absl::StrAppend(&line, "  on ", j.worker_id(), " (attempt ", j.attempt(), ")");
  }
  if (!j.error().empty() && client::IsFinal(j.state())) {
    absl::StrAppend(&line, "  error: ", j.error());
  }
  return line + "\n";
}

void Watch(JobFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::JobState last = v1::JOB_STATE_UNSPECIFIED;
  absl::Status s = c.WatchJob(f.id, [&](const v1::JobEvent& e) {
    last = e.job().state();
    if (f.common.json) {
      std::string json = client::MessageToJson(e);
      json.erase(std::remove(json.begin(), json.end(), '\n'), json.end());
      Out(json + "\n");
    } else {
      Out(EventLine(e));
    }
    std::fflush(stdout);
    return true;
  });
  if (!s.ok()) {
    client::Fail(s);
  }
  if (last != v1::JOB_STATE_SUCCEEDED) {
    throw CLI::RuntimeError(kExitFailure);  // The job failed or was cancelled.
  }
}

// Prints the attempt's log as stored; a gap (output the bound dropped) is noted on stderr.
void Logs(JobFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::StreamJobLogsRequest request;
  request.set_job_id(f.id);
  request.set_attempt(f.attempt);
  request.set_follow(f.follow);
  absl::Status s = c.StreamLogs(request, [&](const v1::LogChunk& chunk) {
    if (chunk.dropped_bytes() > 0) {
      std::fflush(stdout);
      std::fprintf(stderr, "[%lld bytes of attempt %d's output not kept]\n",
                   static_cast<long long>(chunk.dropped_bytes()), chunk.attempt());
    }
    std::fwrite(chunk.data().data(), 1, chunk.data().size(), stdout);
    std::fflush(stdout);
    return true;
  });
  if (!s.ok()) {
    client::Fail(s);
  }
}

void Curve(JobFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::GetLossCurveResponse curve = client::OrFail(c.GetLossCurve(f.id, f.max_points));
  Out(f.common.json ? client::MessageToJson(curve) + "\n" : client::CurveTable(curve));
}

void Install(CLI::App& root) {
  static JobFlags f;
  CLI::App* job = root.add_subcommand("job", "submit, inspect, cancel and watch jobs");
  job->require_subcommand(1);

  CLI::App* submit = job->add_subcommand("submit", "submit one job (a JobSpec JSON file)");
  submit->add_option("FILE", f.file, "job spec")->required();
  submit->add_option("--request-id", f.request_id, "idempotency key (default: random)");
  submit->add_option("--priority", f.priority, "higher runs first");
  submit->add_option("--max-attempts", f.max_attempts, "attempts before failing (default 3)");
  client::AddCommonFlags(submit, &f.common);
  submit->callback([] { Submit(f); });

  CLI::App* get = job->add_subcommand("get", "one job");
  get->add_option("ID", f.id, "job id")->required();
  client::AddCommonFlags(get, &f.common);
  get->callback([] { Get(f); });

  CLI::App* list = job->add_subcommand("list", "jobs, optionally of one sweep or in some states");
  list->add_option("--sweep", f.sweep, "sweep id");
  list->add_option("--state", f.states, "queued, running, succeeded, failed or cancelled");
  client::AddCommonFlags(list, &f.common);
  list->callback([] { List(f); });

  CLI::App* cancel = job->add_subcommand("cancel", "cancel a queued or running job");
  cancel->add_option("ID", f.id, "job id")->required();
  cancel->add_option("--request-id", f.request_id, "idempotency key (default: random)");
  client::AddCommonFlags(cancel, &f.common);
  cancel->callback([] { Cancel(f); });

  CLI::App* watch = job->add_subcommand(
      "watch", "follow a job until it ends (exit 0 when it succeeded, 1 otherwise)");
  watch->add_option("ID", f.id, "job id")->required();
  client::AddCommonFlags(watch, &f.common);
  watch->callback([] { Watch(f); });

  CLI::App* logs = job->add_subcommand(
      "logs", "a job attempt's output (stdout/stderr of its job process), as the worker sent it");
  logs->add_option("ID", f.id, "job id")->required();
  logs->add_option("--attempt", f.attempt, "attempt number (default: the latest)")
      ->check(CLI::PositiveNumber);
  logs->add_flag("--follow,-f", f.follow, "keep printing new output until the attempt ends");
  client::AddCommonFlags(logs, &f.common);
  logs->callback([] { Logs(f); });
  IdCommand(job, f, "retry", "queue a failed or cancelled job again (resumes from its checkpoint)")
      ->callback([] { Retry(f); });
  IdCommand(job, f, "delete", "delete a finished job with its curve and checkpoints")
      ->callback([] { Delete(f); });
  CLI::App* priority = IdCommand(job, f, "priority", "change a queued job's priority");
  priority->add_option("N", f.priority, "new priority, higher runs first")
      ->required()
      ->check(CLI::Range(-1000, 1000));
  priority->callback([] { Priority(f); });

  CLI::App* curve = root.add_subcommand("curve", "a job's loss curve");
  curve->add_option("JOB", f.id, "job id")->required();
  curve->add_option("--max-points", f.max_points, "downsample to at most K points (0: all)")
      ->check(CLI::NonNegativeNumber);
  client::AddCommonFlags(curve, &f.common);
  curve->callback([] { Curve(f); });
}

CommandRegistrar registrar(Install);

}  // namespace
}  // namespace sparsescale::cli

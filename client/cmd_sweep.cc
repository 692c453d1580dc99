// `sparsescale sweep create FILE | get ID | list`.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/command.h"
#include "client/coordinator_client.h"
#include "client/output.h"
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
};

void Out(const std::string& text) { std::fputs(text.c_str(), stdout); }

void Create(SweepFlags& f) {
  std::string text = client::OrFail(client::ReadTextFile(f.file));
  v1::CreateSweepRequest request = client::OrFail(client::ParseSweepJson(text));
  client::AbsolutizePaths(request.mutable_base());
  request.set_request_id(f.request_id.empty() ? client::NewClientRequestId() : f.request_id);
  client::CoordinatorClient c(f.common.coordinator);
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
  client::CoordinatorClient c(f.common.coordinator);
  v1::Sweep sweep = client::OrFail(c.GetSweep(f.id));
  if (f.common.json) {
    Out(client::MessageToJson(sweep) + "\n");
    return;
  }
  Out(client::SweepDetail(sweep));
  Out("\n" + client::JobsTable(client::OrFail(c.ListJobs(sweep.id()))));
}

void List(SweepFlags& f) {
  client::CoordinatorClient c(f.common.coordinator);
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

void Install(CLI::App& root) {
  static SweepFlags f;
  CLI::App* sweep = root.add_subcommand("sweep", "create and inspect sweeps");
  sweep->require_subcommand(1);

  CLI::App* create = sweep->add_subcommand(
      "create", "create a sweep from a JSON file {name, base, axes, priority, max_attempts}");
  create->add_option("FILE", f.file, "sweep file")->required();
  create->add_option("--request-id", f.request_id, "idempotency key (default: random)");
  client::AddCommonFlags(create, &f.common);
  create->callback([] { Create(f); });

  CLI::App* get = sweep->add_subcommand("get", "a sweep and its jobs");
  get->add_option("ID", f.id, "sweep id")->required();
  client::AddCommonFlags(get, &f.common);
  get->callback([] { Get(f); });

  CLI::App* list = sweep->add_subcommand("list", "all sweeps");
  client::AddCommonFlags(list, &f.common);
  list->callback([] { List(f); });
}

CommandRegistrar registrar(Install);

}  // namespace
}  // namespace sparsescale::cli

// `sparsescale export --sweep ID [--out FILE] [--summary FILE]`: every loss point of a sweep as
// CSV, and the per-job summary that `sparsescale law fit FILE` reads.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/command.h"
#include "client/coordinator_client.h"
#include "client/export_csv.h"

namespace sparsescale::cli {
namespace {

namespace v1 = sparsescale::v1;

struct ExportFlags {
  client::CommonFlags common;
  std::string sweep;
  std::string out;
  std::string summary;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) {
    client::Fail(absl::InvalidArgumentError(absl::StrCat("cannot write ", path)));
  }
}

void Export(ExportFlags& f) {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::Sweep sweep = client::OrFail(c.GetSweep(f.sweep));
  std::vector<v1::Job> jobs = client::OrFail(c.ListJobs(sweep.id()));
  std::string points = client::PointsCsvHeader();
  for (const v1::Job& job : jobs) {
    v1::GetLossCurveResponse curve = client::OrFail(c.GetLossCurve(job.id(), 0));
    client::AppendPointsCsv(job, {curve.points().begin(), curve.points().end()}, &points);
  }
  std::string summary_path = f.summary;
  if (summary_path.empty() && !f.out.empty()) {
    std::filesystem::path p(f.out);
    summary_path = (p.parent_path() / (p.stem().string() + ".summary.csv")).string();
  }
  if (f.out.empty()) {
    std::fputs(points.c_str(), stdout);
  } else {
    WriteFile(f.out, points);
  }
  if (!summary_path.empty()) {
    WriteFile(summary_path, client::SummaryCsv(jobs));
  }
  if (!f.out.empty()) {
    std::fprintf(stderr, "wrote %s (%zu jobs)%s%s\n", f.out.c_str(), jobs.size(),
                 summary_path.empty() ? "" : " and ", summary_path.c_str());
  }
}

void Install(CLI::App& root) {
  static ExportFlags f;
  CLI::App* e = root.add_subcommand(
      "export", "a sweep's loss points as CSV, and the per-job summary for `law fit`");
  e->add_option("--sweep", f.sweep, "sweep id")->required();
  e->add_option("--out", f.out, "points CSV (default: stdout)");
  e->add_option("--summary", f.summary,
                "per-job summary CSV (default with --out: OUT's name + .summary.csv)");
  client::AddCommonFlags(e, &f.common);
  e->callback([] { Export(f); });
}

CommandRegistrar registrar(Install);

}  // namespace
}  // namespace sparsescale::cli

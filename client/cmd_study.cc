// `sparsescale study [FILE] [--quick]`: the main job - corpus shards, a local coordinator and
// workers, the study's sweep with progress and ETA, CSV exports, and the fitted law.
#include <cstdio>

#include "client/cli_util.h"
#include "client/command.h"
#include "client/study.h"

namespace sparsescale::cli {
namespace {

struct StudyFlags {
  client::StudyOptions options;
  bool quick = false;
};

void Install(CLI::App& root) {
  static StudyFlags f;
  f.options.work_dir = "";
  CLI::App* study =
      root.add_subcommand("study", "run a whole study on this machine: sweep, training, law fit");
  study->add_option("FILE", f.options.config_path,
                    "study file (default configs/study.json, or configs/study-quick.json "
                    "with --quick)");
  study->add_flag("--quick", f.quick, "the small study (a few minutes on 2 CPU cores)");
  study->add_option("--workers", f.options.workers, "local worker processes")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  study->add_option("--threads", f.options.threads, "CPU threads per job")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  study->add_option("--device", f.options.device, "auto, cpu or cuda")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  study->add_option("--db", f.options.db_path, "SQLite file (default WORK_DIR/coordinator.db)");
  study->add_option("--work-dir", f.options.work_dir,
                    "logs, database and CSV exports (default runs/study or runs/study-quick)");
  study->add_flag("--fresh", f.options.fresh, "start over: delete the database first");
  study->add_option("--checkpoint-keep-last", f.options.checkpoint_keep_last,
                    "checkpoints kept per job of the study's sweep (the newest, so the final "
                    "one too); 0 = the coordinator's default")
      ->check(CLI::Range(0, 1000));
  study->callback([] {
    if (f.options.config_path.empty()) {
      f.options.config_path = f.quick ? "configs/study-quick.json" : "configs/study.json";
    }
    if (f.options.work_dir.empty()) {
      f.options.work_dir = f.quick ? "runs/study-quick" : "runs/study";
    }
    client::StopSignal stop;
    absl::Status s = client::RunStudy(f.options, stop.stopped());
    if (!s.ok()) {
      client::Fail(s);
    }
  });
}

CommandRegistrar registrar(Install);

}  // namespace
}  // namespace sparsescale::cli

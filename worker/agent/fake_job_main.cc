// A stand-in for `sparsescale-worker run-job` in the job runner's tests: same flags, same
// event lines (job_events.h), no training. The script is the spec's `name`, e.g.
//   "steps=20 ckpt=5 sleep_ms=10 fail_at=0 crash_at=0 garbage_at=0"
// A checkpoint file holds "step=N"; --resume continues after that step. SIGTERM stops with a
// checkpoint at the current step, like the real trainer.
#include <google/protobuf/util/json_util.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/agent/job_events.h"

namespace {

namespace fs = std::filesystem;
namespace agent = sparsescale::agent;

volatile std::sig_atomic_t g_stop = 0;
void OnTerm(int) { g_stop = 1; }

void Emit(const std::string& line) {
  std::string data = line + "\n";
  if (write(STDOUT_FILENO, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    std::exit(3);
  }
}

std::map<std::string, std::string> Flags(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 2; i + 1 < argc; i += 2) {
    flags[argv[i]] = argv[i + 1];
  }
  return flags;
}

std::map<std::string, int64_t> Script(const std::string& name) {
  std::map<std::string, int64_t> script{{"steps", 10}, {"ckpt", 0}, {"sleep_ms", 0}};
  std::istringstream in(name);
  std::string item;
  while (in >> item) {
    size_t eq = item.find('=');
    if (eq != std::string::npos) {
      script[item.substr(0, eq)] = std::stoll(item.substr(eq + 1));
    }
  }
  return script;
}

void Checkpoint(int64_t step, const std::string& out, const std::string& upload) {
  fs::path file = fs::path(out) / absl::StrCat("ckpt-", step, ".safetensors");
  std::ofstream(file) << "step=" << step;
  fs::path link = fs::path(upload) / file.filename();
  std::error_code ec;
  fs::remove(link, ec);
  fs::create_hard_link(file, link);
  Emit(agent::EncodeCheckpoint(step, link.string()));
}

int64_t ResumeStep(const std::string& path) {
  if (path.empty()) {
    return 0;
  }
  std::ifstream in(path);
  std::string text;
  in >> text;
  return text.rfind("step=", 0) == 0 ? std::stoll(text.substr(5)) : -1;
}

sparsescale::v1::LossPoint Point(int64_t step) {
  sparsescale::v1::LossPoint p;
  p.set_step(step);
  p.set_tokens(step * 64);
  p.set_train_loss(5.0 / static_cast<double>(step));
  p.set_lr(1e-3);
  p.set_wall_s(0.01 * static_cast<double>(step));
  return p;
}

// With SPARSESCALE_FAKE_JOB_ENV_LOG set (the agent's GPU test), appends
// "start PID DEVICES BACKEND NAME" when the job starts and "end ..." as it exits, DEVICES being
// its CUDA_VISIBLE_DEVICES ("-" when unset, "" when empty), BACKEND its --device flag and NAME
// its spec's name: one short append each, so lines never interleave.
class EnvLog {
 public:
  EnvLog(std::string backend, std::string name)
      : backend_(std::move(backend)), name_(std::move(name)) {
    Write("start");
  }
  ~EnvLog() { Write("end"); }

 private:
  void Write(const char* what) const {
    const char* path = std::getenv("SPARSESCALE_FAKE_JOB_ENV_LOG");
    if (path == nullptr) {
      return;
    }
    const char* devices = std::getenv("CUDA_VISIBLE_DEVICES");
    std::ofstream(path, std::ios::app)
        << absl::StrCat(what, " ", getpid(), " ", devices == nullptr ? "-" : devices, " ",
                        backend_, " ", name_, "\n")
        << std::flush;
  }
  std::string backend_;
  std::string name_;
};

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGTERM, OnTerm);
  auto flags = Flags(argc, argv);
  std::ifstream spec_file(flags["--spec"]);
  std::string json((std::istreambuf_iterator<char>(spec_file)), std::istreambuf_iterator<char>());
  sparsescale::v1::JobSpec spec;
  if (!google::protobuf::util::JsonStringToMessage(json, &spec).ok()) {
    Emit(agent::EncodeError(absl::InvalidArgumentError("fake job: bad spec")));
    return 2;
  }
  auto script = Script(spec.name());
  EnvLog env_log(flags["--device"], spec.name());
  int64_t start = ResumeStep(flags["--resume"]);
  if (start < 0) {
    Emit(agent::EncodeError(absl::InvalidArgumentError("fake job: bad resume checkpoint")));
    return 1;
  }
  int64_t last_ckpt = start;
  for (int64_t step = start + 1; step <= script["steps"]; ++step) {
    std::this_thread::sleep_for(std::chrono::milliseconds(script["sleep_ms"]));
    if (step == script["crash_at"]) {
      std::abort();
    }
    if (step == script["garbage_at"]) {
      Emit("this is not an event");
    }
    // The job's own log goes to stderr, like the trainer's.
    std::fprintf(stderr, "fake job: step %lld\n", static_cast<long long>(step));
    std::fflush(stderr);
    if (step == script["fail_at"]) {
      std::fprintf(stderr, "fake job: diverged at step %lld\n", static_cast<long long>(step));
      std::fflush(stderr);
      Emit(agent::EncodeError(absl::InternalError("fake job: diverged")));
      return 1;
    }
    Emit(agent::EncodePoint(Point(step)));
    if (script["ckpt"] > 0 && step % script["ckpt"] == 0) {
      Checkpoint(step, flags["--out"], flags["--upload-dir"]);
      last_ckpt = step;
    }
    sparsescale::v1::JobProgress progress;
    progress.set_step(step);
    progress.set_total_steps(script["steps"]);
    progress.set_tokens(step * 64);
    progress.set_train_loss(1.0);
    progress.set_tokens_per_s(100.0);
    progress.set_eta_s(1.0);
    Emit(agent::EncodeProgress(progress));
    if (g_stop != 0) {
      if (last_ckpt != step) {
        Checkpoint(step, flags["--out"], flags["--upload-dir"]);
      }
      Emit(agent::EncodeStopped(step));
      return 0;
    }
  }
  sparsescale::v1::JobSummary summary;
  summary.set_steps(script["steps"]);
  summary.set_final_train_loss(0.5);
  summary.set_final_eval_loss(0.6);
  Emit(agent::EncodeDone(summary));
  return 0;
}

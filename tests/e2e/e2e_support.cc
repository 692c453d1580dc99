#include "tests/e2e/e2e_support.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/local_cluster.h"
#include "common/status.h"
#include "worker/agent/subprocess.h"
#include "worker/trainer/shard.h"

namespace sparsescale::e2e {

namespace fs = std::filesystem;
namespace v1 = sparsescale::v1;

absl::StatusOr<std::string> PrepareCorpusSlice(const std::string& dir, size_t bytes) {
  const char* source = std::getenv("SPARSESCALE_SOURCE_DIR");
  fs::path corpus = fs::path(source != nullptr ? source : ".") / "data/corpus/web.txt";
  std::ifstream in(corpus, std::ios::binary);
  if (!in.good()) {
    return absl::NotFoundError(absl::StrCat(
        "corpus missing: ", corpus.string(),
        " (run deploy/setup.sh or deploy/prepare_corpus.sh first; set SPARSESCALE_SOURCE_DIR "
        "to the source tree when running the test binary outside ctest)"));
  }
  std::string text(bytes, '\0');
  in.read(text.data(), static_cast<std::streamsize>(bytes));
  text.resize(static_cast<size_t>(in.gcount()));
  fs::path slice = fs::path(dir) / "corpus.txt";
  std::ofstream(slice, std::ios::binary) << text;
  trainer::PrepareOptions prepare;
  prepare.inputs = {slice.string()};
  prepare.out_dir = (fs::path(dir) / "shards").string();
  prepare.eval_fraction = 0.1;
  RETURN_IF_ERROR(trainer::PrepareShards(prepare).status());
  return prepare.out_dir;
}

v1::JobSpec TinySpec(const std::string& shard_dir, int steps, int ckpt_every, double sparsity,
                     uint64_t seed) {
  v1::JobSpec spec;
  spec.set_name("e2e tiny");
  v1::ModelSpec* model = spec.mutable_model();
  model->set_layers(1);
  model->set_width(16);
  model->set_heads(2);
  model->set_context(32);
  v1::DataSpec* data = spec.mutable_data();
  data->add_train_shards(shard_dir + "/train_*.bin");
  data->add_eval_shards(shard_dir + "/val_000000.bin");
  data->set_batch_size(4);
  data->set_tokens(int64_t{steps} * 4 * 32);
  data->set_eval_interval_steps(std::max(1, steps / 4));
  data->set_eval_batches(2);
  spec.mutable_pruning()->set_sparsity(sparsity);
  spec.mutable_checkpoint()->set_interval_steps(ckpt_every);
  spec.set_log_interval_steps(1);
  spec.set_seed(seed);
  spec.set_device("cpu");
  spec.set_threads(1);
  return spec;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

CliResult RunCli(const std::vector<std::string>& args) {
  absl::StatusOr<std::string> bin = client::FindBinary("sparsescale");
  SS_CHECK(bin.ok());
  agent::SpawnOptions spawn;
  spawn.argv = {*bin};
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.capture_stdout = true;
  absl::StatusOr<agent::Subprocess> child = agent::Subprocess::Spawn(spawn);
  SS_CHECK(child.ok());
  CliResult result;
  std::vector<std::string> lines;
  while (child->ReadLines(std::chrono::milliseconds(1000), &lines)) {
  }
  for (const std::string& line : lines) {
    absl::StrAppend(&result.out, line, "\n");
  }
  result.exit_code = child->Wait().exit_code;
  return result;
}

}  // namespace sparsescale::e2e

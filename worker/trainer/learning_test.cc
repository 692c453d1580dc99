// The trainer learns: a tiny GPT on a slice of the real corpus (World English Bible) ends with a
// held-out loss at least 30% below the entropy of the slice's byte-unigram distribution (what a
// model that ignores context can reach). About 15 s of CPU in a Release build.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "worker/trainer/shard.h"
#include "worker/trainer/test_util.h"
#include "worker/trainer/trainer.h"

namespace sparsescale::trainer {
namespace {

constexpr size_t kSliceBytes = 2'000'000;

// Entropy (nats) of the byte-unigram distribution of `text`.
double UnigramEntropy(const std::string& text) {
  std::vector<double> counts(256, 0.0);
  for (unsigned char c : text) {
    counts[c] += 1;
  }
  double h = 0;
  for (double c : counts) {
    if (c > 0) {
      const double p = c / static_cast<double>(text.size());
      h -= p * std::log(p);
    }
  }
  return h;
}

TEST(LearningTest, TinyModelBeatsTheUnigramEntropyByThirtyPercentOnTheCorpus) {
  const std::string corpus = testing::SourceDir() + "/data/corpus/web.txt";
  ASSERT_TRUE(std::filesystem::exists(corpus))
      << corpus << " is missing: run deploy/prepare_corpus.sh (part of deploy/setup.sh)";
  std::string text = testing::ReadAll(corpus).substr(0, kSliceBytes);
  ASSERT_EQ(text.size(), kSliceBytes);
  const double entropy = UnigramEntropy(text);

  const std::string dir = testing::MakeTempDir("learn");
  const size_t split = text.size() * 95 / 100;
  const std::string train = testing::WriteTextShard(dir, "train.bin", text.substr(0, split));
  const std::string eval = testing::WriteTextShard(dir, "val.bin", text.substr(split));
  sparsescale::v1::JobSpec spec;
  spec.mutable_model()->set_layers(2);
  spec.mutable_model()->set_width(64);
  spec.mutable_model()->set_heads(4);
  spec.mutable_model()->set_context(64);
  auto* data = spec.mutable_data();
  data->add_train_shards(train);
  data->add_eval_shards(eval);
  data->set_batch_size(16);
  data->set_tokens(700 * 16 * 64);
  data->set_eval_interval_steps(100);
  data->set_eval_batches(8);
  spec.mutable_optim()->set_lr(4e-3);
  spec.mutable_optim()->set_warmup_fraction(0.02);
  spec.set_seed(1);
  spec.set_device("cpu");
  spec.set_log_interval_steps(100);

  testing::RecordingObserver observer;
  TrainOptions options;
  options.out_dir = dir + "/run";
  auto summary = RunTraining(spec, options, &observer);
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_TRUE(summary->final_eval_loss.has_value());
  const double first_eval = EvalLoss(observer.points.front()).value();
  std::printf("unigram entropy %.4f nats; eval loss %.4f at step 100, %.4f at the end (%.1f s)\n",
              entropy, first_eval, *summary->final_eval_loss, summary->wall_s);
  EXPECT_LE(*summary->final_eval_loss, 0.7 * entropy);
  EXPECT_LT(*summary->final_eval_loss, first_eval);
}

}  // namespace
}  // namespace sparsescale::trainer

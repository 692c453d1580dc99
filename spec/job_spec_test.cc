#include "spec/job_spec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "spec/testing.h"

namespace sparsescale::spec {
namespace {

using sparsescale::v1::JobSpec;

using testing::TinySpec;

JobSpec Valid() {
  JobSpec spec = TinySpec("shards/train_*.bin", 100);
  NormalizeJobSpec(&spec);
  return spec;
}

// Expects InvalidArgument whose message starts with `field`.
void ExpectInvalid(const JobSpec& spec, const std::string& field) {
  absl::Status status = ValidateJobSpec(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(std::string(status.message()).rfind(field + ":", 0), 0u) << status.message();
}

TEST(JobSpecTest, UnknownFieldIsAnErrorNamingTheField) {
  auto spec = ParseJobSpecJson(R"({"model": {"layers": 2, "widht": 64}})");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("widht"), std::string::npos) << spec.status();
}

TEST(JobSpecTest, ParsesEnumsAndNestedFields) {
  auto spec = ParseJobSpecJson(
      R"({"model": {"layers": 2, "width": 64, "heads": 4, "context": 32},
          "pruning": {"structure": "SPARSITY_STRUCTURE_NM", "n": 2, "m": 4},
          "data": {"train_shards": ["a.bin"], "batch_size": 8, "tokens": "4096"}})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model().width(), 64);
  EXPECT_EQ(spec->pruning().structure(), sparsescale::v1::SPARSITY_STRUCTURE_NM);
  EXPECT_EQ(spec->data().tokens(), 4096);
}

TEST(JobSpecTest, NormalizeFillsDocumentedDefaults) {
  JobSpec spec;
  spec.mutable_model()->set_context(16);
  spec.mutable_data()->set_batch_size(4);
  spec.mutable_data()->set_tokens(64 * 200);  // 200 steps
  NormalizeJobSpec(&spec);
  EXPECT_EQ(spec.model().vocab(), 256);
  EXPECT_DOUBLE_EQ(spec.data().eval_fraction(), 0.05);
  EXPECT_EQ(spec.data().eval_interval_steps(), 20);
  EXPECT_EQ(spec.data().eval_batches(), 8);
  EXPECT_DOUBLE_EQ(spec.optim().lr(), 1e-3);
  EXPECT_DOUBLE_EQ(spec.optim().warmup_fraction(), 0.05);
  EXPECT_EQ(spec.optim().schedule(), sparsescale::v1::LR_SCHEDULE_COSINE);
  EXPECT_DOUBLE_EQ(spec.optim().min_lr_fraction(), 0.1);
  EXPECT_DOUBLE_EQ(spec.optim().weight_decay(), 0.1);
  EXPECT_DOUBLE_EQ(spec.optim().beta2(), 0.95);
  EXPECT_DOUBLE_EQ(spec.optim().grad_clip(), 1.0);
  EXPECT_DOUBLE_EQ(spec.pruning().start_fraction(), 0.25);
  EXPECT_DOUBLE_EQ(spec.pruning().end_fraction(), 0.75);
  EXPECT_DOUBLE_EQ(spec.pruning().power(), 3.0);
  EXPECT_EQ(spec.pruning().update_interval_steps(), 100);
  EXPECT_EQ(spec.pruning().embedding(), sparsescale::v1::EMBEDDING_PRUNING_SQRT);
  EXPECT_EQ(spec.checkpoint().interval_steps(), 50);
  EXPECT_EQ(spec.checkpoint().keep_last(), 2);
  EXPECT_EQ(spec.device(), "auto");
  EXPECT_EQ(spec.log_interval_steps(), 1);
  EXPECT_EQ(spec.threads(), 1);
  JobSpec again = spec;
  NormalizeJobSpec(&again);
  EXPECT_EQ(again.SerializeAsString(), spec.SerializeAsString());
}

TEST(JobSpecTest, NmSparsityDefaultsToOneMinusNOverM) {
  JobSpec spec = TinySpec("x.bin", 10);
  spec.mutable_pruning()->set_structure(sparsescale::v1::SPARSITY_STRUCTURE_NM);
  spec.mutable_pruning()->set_n(1);
  spec.mutable_pruning()->set_m(4);
  NormalizeJobSpec(&spec);
  EXPECT_DOUBLE_EQ(spec.pruning().sparsity(), 0.75);
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
}

TEST(JobSpecTest, ValidSpecPasses) { EXPECT_TRUE(ValidateJobSpec(Valid()).ok()); }

TEST(JobSpecTest, ZeroOrNegativeSizesNameTheField) {
  JobSpec spec = Valid();
  spec.mutable_model()->set_layers(0);
  ExpectInvalid(spec, "model.layers");
  spec = Valid();
  spec.mutable_model()->set_width(-64);
  ExpectInvalid(spec, "model.width");
  spec = Valid();
  spec.mutable_model()->set_heads(0);
  ExpectInvalid(spec, "model.heads");
  spec = Valid();
  spec.mutable_model()->set_context(-1);
  ExpectInvalid(spec, "model.context");
  spec = Valid();
  spec.mutable_data()->set_batch_size(0);
  ExpectInvalid(spec, "data.batch_size");
  spec = Valid();
  spec.mutable_model()->set_vocab(70000);
  ExpectInvalid(spec, "model.vocab");
}

TEST(JobSpecTest, WidthNotDivisibleByHeadsIsRejected) {
  JobSpec spec = Valid();
  spec.mutable_model()->set_heads(3);
  ExpectInvalid(spec, "model.width");
}

TEST(JobSpecTest, SparsityOutsideZeroOneIsRejected) {
  for (double s : {1.0, -0.1, 1.5}) {
    JobSpec spec = Valid();
    spec.mutable_pruning()->set_sparsity(s);
    ExpectInvalid(spec, "pruning.sparsity");
  }
}

TEST(JobSpecTest, BadNmIsRejected) {
  JobSpec spec = Valid();
  spec.mutable_pruning()->set_structure(sparsescale::v1::SPARSITY_STRUCTURE_NM);
  spec.mutable_pruning()->set_n(4);
  spec.mutable_pruning()->set_m(4);
  spec.mutable_pruning()->set_sparsity(0.5);
  ExpectInvalid(spec, "pruning.n");
  spec.mutable_pruning()->set_n(0);
  ExpectInvalid(spec, "pruning.n");
  spec.mutable_pruning()->set_n(2);
  spec.mutable_pruning()->set_sparsity(0.75);  // 2:4 means 0.5
  ExpectInvalid(spec, "pruning.sparsity");
  spec.mutable_pruning()->set_sparsity(0.5);
  spec.mutable_pruning()->set_m(3);
  spec.mutable_pruning()->set_n(1);
  spec.mutable_pruning()->set_sparsity(1.0 - 1.0 / 3);
  ExpectInvalid(spec, "model.width");  // 32 columns do not split into groups of 3
}

TEST(JobSpecTest, BudgetSmallerThanOneStepIsRejected) {
  JobSpec spec = Valid();
  spec.mutable_data()->set_tokens(4 * 16 - 1);
  ExpectInvalid(spec, "data.tokens");
}

TEST(JobSpecTest, MissingShardsAndBadFractionsAreRejected) {
  JobSpec spec = Valid();
  spec.mutable_data()->clear_train_shards();
  ExpectInvalid(spec, "data.train_shards");
  spec = Valid();
  spec.mutable_pruning()->set_end_fraction(0.1);
  ExpectInvalid(spec, "pruning.end_fraction");
  spec = Valid();
  spec.mutable_optim()->set_beta2(1.0);
  ExpectInvalid(spec, "optim.beta2");
  spec = Valid();
  spec.set_device("tpu");
  ExpectInvalid(spec, "device");
}

TEST(JobSpecTest, PerWidthLearningRateNeedsAPositiveReferenceAndAPowerInRange) {
  JobSpec spec = Valid();
  spec.mutable_optim()->set_lr_reference_width(32);
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
  spec.mutable_optim()->set_lr_reference_width(0);
  ExpectInvalid(spec, "optim.lr_reference_width");
  spec = Valid();
  spec.mutable_optim()->set_lr_width_power(1);
  ExpectInvalid(spec, "optim.lr_width_power");  // a power without a reference width
  spec.mutable_optim()->set_lr_reference_width(32);
  spec.mutable_optim()->set_lr_width_power(-1);
  ExpectInvalid(spec, "optim.lr_width_power");
  spec.mutable_optim()->set_lr_width_power(0.5);
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
}

TEST(JobSpecTest, HashIgnoresNameAndPlacementButNotTheJob) {
  JobSpec a = TinySpec("x.bin", 10);
  JobSpec b = a;
  b.set_name("another name");
  b.set_device("cuda");
  b.set_threads(8);
  EXPECT_EQ(CanonicalJobSpecHash(a), CanonicalJobSpecHash(b));
  JobSpec c = a;
  c.mutable_pruning()->set_sparsity(0.5);
  EXPECT_NE(CanonicalJobSpecHash(a), CanonicalJobSpecHash(c));
  JobSpec d = a;
  d.set_seed(8);
  EXPECT_NE(CanonicalJobSpecHash(a), CanonicalJobSpecHash(d));
  EXPECT_EQ(CanonicalJobSpecHash(a).size(), 64u);
}

TEST(JobSpecTest, HashTreatsExplicitDefaultsAsUnset) {
  JobSpec a = TinySpec("x.bin", 10);
  JobSpec b = a;
  b.mutable_optim()->set_beta1(0.9);
  b.mutable_pruning()->set_power(3);
  b.mutable_model()->set_vocab(256);
  EXPECT_EQ(CanonicalJobSpecHash(a), CanonicalJobSpecHash(b));
  JobSpec c = a;
  c.mutable_optim()->set_lr_reference_width(32);
  EXPECT_NE(CanonicalJobSpecHash(a), CanonicalJobSpecHash(c));  // a different learning rate
  JobSpec d = c;
  d.mutable_optim()->set_lr_width_power(1);
  EXPECT_EQ(CanonicalJobSpecHash(c), CanonicalJobSpecHash(d));
}

// Cell ids are stored in existing databases: the canonical hash of a normalised spec must never
// change. These values were computed by the code before the spec rules moved out of the trainer.
TEST(JobSpecTest, CanonicalHashIsPinned) {
  auto unstructured = ParseJobSpecJson(
      R"({"name": "pinned", "model": {"layers": 2, "width": 64, "heads": 4, "context": 32},
          "data": {"train_shards": ["data/shards/web_train_*.bin"], "batch_size": 8,
                   "tokens": "600000"},
          "pruning": {"sparsity": 0.75}, "seed": "3", "device": "cpu"})");
  ASSERT_TRUE(unstructured.ok()) << unstructured.status();
  EXPECT_EQ(CanonicalJobSpecHash(*unstructured),
            "195faa3a529567f5dd3ca472801f5d243e8ed955e173639b2f0234c70bfaad7f");
  auto nm = ParseJobSpecJson(
      R"({"model": {"layers": 1, "width": 32, "heads": 2, "context": 16, "vocab": 512},
          "data": {"train_shards": ["a.bin"], "eval_shards": ["b.bin"], "batch_size": 4,
                   "tokens": "65536", "eval_interval_steps": 10},
          "optim": {"lr": 0.003, "schedule": "LR_SCHEDULE_INVERSE_SQRT"},
          "pruning": {"structure": "SPARSITY_STRUCTURE_NM", "n": 2, "m": 4,
                      "embedding": "EMBEDDING_PRUNING_NONE"},
          "log_interval_steps": 5})");
  ASSERT_TRUE(nm.ok()) << nm.status();
  EXPECT_EQ(CanonicalJobSpecHash(*nm),
            "889d8670229b1301687546e15ff9abbf457611003959e94a32ea50322a359bb4");
}

TEST(JobSpecTest, JsonRoundTripKeepsTheSpec) {
  JobSpec spec = Valid();
  auto back = ParseJobSpecJson(JobSpecToJson(spec));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), spec.SerializeAsString());
}

TEST(JobSpecTest, ADatasetTakesRelativeShardNamesOrNoneAndAValidName) {
  JobSpec spec = Valid();
  spec.mutable_data()->set_dataset("corpus");
  spec.mutable_data()->clear_train_shards();
  EXPECT_TRUE(ValidateJobSpec(spec).ok());  // none: every file of the dataset
  spec.mutable_data()->add_train_shards("train_*.bin");
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
  spec.mutable_data()->set_dataset(std::string(64, 'a'));  // a hash
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
  spec.mutable_data()->add_train_shards("/abs/train.bin");
  ExpectInvalid(spec, "data.train_shards[1]");
  spec.mutable_data()->mutable_train_shards()->RemoveLast();
  spec.mutable_data()->add_eval_shards("../val.bin");
  spec.mutable_data()->set_eval_fraction(0);
  ExpectInvalid(spec, "data.eval_shards[0]");
  spec.mutable_data()->clear_eval_shards();
  spec.mutable_data()->set_eval_fraction(0.05);
  spec.mutable_data()->set_dataset("bad name!");
  ExpectInvalid(spec, "data.dataset");
  spec.mutable_data()->set_dataset("");
  spec.mutable_data()->clear_train_shards();
  ExpectInvalid(spec, "data.train_shards");
  EXPECT_FALSE(ValidateDatasetFileName("a/./b", "f").ok());
  EXPECT_FALSE(ValidateDatasetFileName("a//b", "f").ok());
  EXPECT_TRUE(ValidateDatasetFileName("dir/train_000.bin", "f").ok());
}

TEST(JobSpecTest, DatasetShardsResolveAgainstTheCacheDirectory) {
  const std::string dir = ::testing::TempDir() + "/resolve_dataset_shards";
  std::filesystem::create_directories(dir);
  for (const char* name : {"train_1.bin", "train_0.bin", "val.bin"}) {
    std::ofstream(dir + "/" + name) << "x";
  }
  JobSpec spec = Valid();
  spec.mutable_data()->set_dataset("corpus");
  spec.mutable_data()->clear_train_shards();
  spec.mutable_data()->add_eval_shards("val.bin");
  auto resolved = ResolveDatasetShards(spec, dir);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  ASSERT_EQ(resolved->data().train_shards_size(), 2);
  EXPECT_EQ(resolved->data().train_shards(0), dir + "/train_0.bin");
  EXPECT_EQ(resolved->data().train_shards(1), dir + "/train_1.bin");
  EXPECT_EQ(resolved->data().eval_shards(0), dir + "/val.bin");
  spec.mutable_data()->add_train_shards("train_*.bin");
  resolved = ResolveDatasetShards(spec, dir);
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(resolved->data().train_shards(0), dir + "/train_*.bin");
  // The spec as hashed is untouched by resolution.
  EXPECT_EQ(spec.data().train_shards(0), "train_*.bin");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sparsescale::spec

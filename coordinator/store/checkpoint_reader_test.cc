#include "coordinator/store/checkpoint_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/sha256.h"
#include "coordinator/store/store_testing.h"

namespace sparsescale::store {
namespace {

// Checkpoints of job "j" stored in SQLite (chunks as given) or, with a blob directory, as a file.
class CheckpointReaderTest : public testing::StoreFileTest {
 protected:
  void Open(bool blob_dir) {
    StoreOptions options;
    if (blob_dir) {
      options.checkpoint_dir = dir_ + "/checkpoints";
    }
    store_ = OpenStore(options);
    ASSERT_NE(store_, nullptr);
    JobRow job;
    job.id = "j";
    job.spec = "spec";
    job.total_steps = 100;
    job.device = "cpu";
    ASSERT_TRUE(store_->InsertJobIfAbsent(&job).ok());
  }
  void TearDown() override {
    store_.reset();
    StoreFileTest::TearDown();
  }

  CheckpointRow Put(int64_t step, const std::vector<std::string>& chunks) {
    std::string payload;
    for (const std::string& c : chunks) {
      payload += c;
    }
    CheckpointRow meta = testing::CheckpointMetaOf("j", step, payload);
    auto id = store_->BeginCheckpoint(meta, 1000);
    EXPECT_TRUE(id.ok()) << id.status();
    for (size_t i = 0; i < chunks.size(); ++i) {
      EXPECT_TRUE(store_->AppendCheckpointChunk(*id, static_cast<int>(i), chunks[i]).ok());
    }
    EXPECT_TRUE(store_->CommitCheckpoint(*id).ok());
    return **store_->FindCheckpoint("j", step);
  }

  // Every piece from `offset` on, concatenated; the pieces' sizes in `sizes`.
  std::string ReadFrom(const CheckpointRow& meta, int64_t offset, std::vector<size_t>* sizes) {
    auto reader = CheckpointReader::Open(*store_, meta, offset);
    EXPECT_TRUE(reader.ok()) << reader.status();
    std::string all;
    while (reader.ok() && !reader->done()) {
      auto piece = reader->Next(*store_);
      EXPECT_TRUE(piece.ok()) << piece.status();
      if (!piece.ok() || piece->empty()) {
        break;
      }
      sizes->push_back(piece->size());
      all += *piece;
    }
    return all;
  }

  std::unique_ptr<Store> store_;
};

TEST_F(CheckpointReaderTest, SqliteChunksAreReadOneByOneFromAnyOffset) {
  Open(/*blob_dir=*/false);
  const CheckpointRow meta = Put(10, {"abcd", "efgh", "ij"});
  const std::string payload = "abcdefghij";
  for (int64_t offset = 0; offset <= 10; ++offset) {
    std::vector<size_t> sizes;
    EXPECT_EQ(ReadFrom(meta, offset, &sizes), payload.substr(offset)) << "offset " << offset;
    // One piece per stored chunk, the first one cut at the offset.
    if (offset == 0) {
      EXPECT_EQ(sizes, (std::vector<size_t>{4, 4, 2}));
    } else if (offset == 5) {
      EXPECT_EQ(sizes, (std::vector<size_t>{3, 2}));
    } else if (offset == 10) {
      EXPECT_TRUE(sizes.empty());
    }
  }
}

TEST_F(CheckpointReaderTest, AFileIsReadInMebibytePiecesFromAnyOffset) {
  Open(/*blob_dir=*/true);
  std::string payload((2 << 20) + 100, '\0');
  for (size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>(i * 7 + (i >> 11));
  }
  const CheckpointRow meta = Put(10, {payload.substr(0, 1000), payload.substr(1000)});
  ASSERT_EQ(meta.stored_in, CheckpointStorage::kBlobDir);
  std::vector<size_t> sizes;
  EXPECT_TRUE(ReadFrom(meta, 0, &sizes) == payload);
  EXPECT_EQ(sizes, (std::vector<size_t>{1 << 20, 1 << 20, 100}));
  sizes.clear();
  EXPECT_TRUE(ReadFrom(meta, 1'500'000, &sizes) == payload.substr(1'500'000));
  EXPECT_EQ(sizes, (std::vector<size_t>{payload.size() - 1'500'000}));  // the rest: one piece
}

TEST_F(CheckpointReaderTest, ChunksRemovedDuringTheReadAreAbortedNotAShortPayload) {
  Open(/*blob_dir=*/false);
  const CheckpointRow meta = Put(10, {"abcd", "efgh"});
  auto reader = CheckpointReader::Open(*store_, meta, 0);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(*reader->Next(*store_), "abcd");
  ASSERT_TRUE(store_->db()->Exec("DELETE FROM checkpoint_chunks").ok());  // replaced meanwhile
  auto gone = reader->Next(*store_);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kAborted) << gone.status();
}

}  // namespace
}  // namespace sparsescale::store

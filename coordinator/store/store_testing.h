// Test support for the store's tests: a fixture that gives every test a fresh temporary
// directory (removed afterwards) and a database path in it, and opens stores on that path;
// OpenStoreTest also keeps one store open for the whole test.
// Not thread-safe (GoogleTest fixtures are used from the test's thread).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/sha256.h"
#include "coordinator/store/store.h"
#include "gtest/gtest.h"

namespace sparsescale::store::testing {

// The row a worker's upload of `payload` as job `job`'s checkpoint at `step` begins with.
inline CheckpointRow CheckpointMetaOf(const std::string& job, int64_t step,
                                      const std::string& payload) {
  return CheckpointRow{.id = 0,
                       .job_id = job,
                       .step = step,
                       .attempt = 1,
                       .size_bytes = static_cast<int64_t>(payload.size()),
                       .sha256 = Sha256Hex(payload),
                       .chunks = 0,
                       .created_unix_ms = 0};
}

// Where a --checkpoint-dir `blob_dir` keeps `payload` (blob_dir.h's layout).
inline std::string BlobFileOf(const std::string& blob_dir, const std::string& payload) {
  const std::string sha = Sha256Hex(payload);
  return blob_dir + "/" + sha.substr(0, 2) + "/" + sha;
}

// Payload files under a blob directory (tmp/ not counted).
inline int CountBlobFiles(const std::string& blob_dir) {
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(blob_dir)) {
    n += e.is_regular_file() && e.path().parent_path().filename() != "tmp" ? 1 : 0;
  }
  return n;
}

class StoreFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "/sparsescale_store_XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    path_ = dir_ + "/coordinator.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A store on path_ (migrated on open); nullptr, with a test failure, when opening fails.
  std::unique_ptr<Store> OpenStore(const StoreOptions& options = {}) {
    auto store = Store::Open(path_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::string dir_;   // the test's own directory
  std::string path_;  // dir_/coordinator.db
};

// StoreFileTest with a store open on path_ for the whole test (closed before the directory goes).
class OpenStoreTest : public StoreFileTest {
 protected:
  void SetUp() override {
    StoreFileTest::SetUp();
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    StoreFileTest::TearDown();
  }

  std::unique_ptr<Store> store_;
};

}  // namespace sparsescale::store::testing

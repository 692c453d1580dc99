#include "worker/agent/file_digest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace sparsescale::agent {
namespace {

TEST(FileDigestTest, DigestsAFileAndNamesAMissingOne) {
  auto path = std::filesystem::temp_directory_path() / absl::StrCat("digest_", getpid());
  std::ofstream(path) << "abc";
  auto d = DigestFile(path.string());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->size_bytes, 3);
  EXPECT_EQ(d->sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::filesystem::remove(path);
  auto missing = DigestFile(path.string());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(path.string()), std::string::npos);
}

}  // namespace
}  // namespace sparsescale::agent

// Test helper: the released data files, found at ${SPARSESCALE_SOURCE_DIR}/../shared/data/paper
// (in CI the repository is cloned with shared/ beside it). Header-only; used by tests only.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace sparsescale::law::testing {

// Path of a released data file; fails the calling test with a clear message when it is missing.
inline std::string PaperDataFile(const std::string& name) {
  const char* source_dir = std::getenv("SPARSESCALE_SOURCE_DIR");
  const std::filesystem::path root = source_dir != nullptr ? source_dir : ".";
  const std::filesystem::path path = root / ".." / "shared" / "data" / "paper" / name;
  EXPECT_TRUE(std::filesystem::exists(path))
      << "released data file missing: " << path
      << " (expected ../shared/data/paper beside the repository; set SPARSESCALE_SOURCE_DIR)";
  return path.string();
}

}  // namespace sparsescale::law::testing

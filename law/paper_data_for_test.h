// Test helper: the released runs vendored in the repository at data/paper/ (see its README.md),
// found under $SPARSESCALE_SOURCE_DIR (set by ctest), else the source tree CMake compiled in
// (SPARSESCALE_TEST_SOURCE_DIR), else the working directory. A missing or unreadable file is a
// failure of the calling test that names the path, never an abort of the test binary.
// Header-only; used by tests only; thread-compatible.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "law/run_io.h"

namespace sparsescale::law::testing {

// The folder that holds t5-c4.csv and vit-jft.json.
inline std::filesystem::path PaperDataDir() {
  const char* source_dir = std::getenv("SPARSESCALE_SOURCE_DIR");
  std::filesystem::path root = ".";
#ifdef SPARSESCALE_TEST_SOURCE_DIR
  root = SPARSESCALE_TEST_SOURCE_DIR;
#endif
  if (source_dir != nullptr) {
    root = source_dir;
  }
  return root / "data" / "paper";
}

// Path of a released data file; adds a test failure naming the path when it is missing.
inline std::string PaperDataFile(const std::string& name) {
  const std::filesystem::path path = PaperDataDir() / name;
  EXPECT_TRUE(std::filesystem::exists(path))
      << "released data file missing: " << path
      << " (it is part of the repository: data/paper/; set SPARSESCALE_SOURCE_DIR to the "
         "source tree when running a test binary from elsewhere)";
  return path.string();
}

// The runs of a released file, or nullopt after adding a test failure that names the file and
// says why it could not be read. Callers ASSERT_TRUE(runs.has_value()).
inline std::optional<RunSet> LoadPaperRuns(const std::string& name) {
  const std::string path = PaperDataFile(name);
  absl::StatusOr<RunSet> runs = LoadRuns(path);
  if (!runs.ok()) {
    ADD_FAILURE() << "cannot load released runs " << path << ": " << runs.status();
    return std::nullopt;
  }
  return *std::move(runs);
}

}  // namespace sparsescale::law::testing

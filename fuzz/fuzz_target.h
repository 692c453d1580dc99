// The entry point every fuzz target in fuzz/ defines. Built with -DSPARSESCALE_FUZZ=ON it is
// driven by libFuzzer; in the normal build replay_main.cc calls it once per committed input
// (fuzz/corpus/<target>/ and fuzz/regressions/<target>/), so CI replays them without clang.
// Contract: returns 0 for every input; any crash, sanitizer report or failed SPARSESCALE_FUZZ_CHECK
// is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// A property every input must keep (e.g. a parsed value re-serialises and parses again).
#define SPARSESCALE_FUZZ_CHECK(cond)                                            \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                      \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

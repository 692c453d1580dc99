// The stand-in GoogleTest runner: registry, filter, and the summary line.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "standin/gtest.h"

namespace testing {
namespace {

struct Entry {
  std::string suite;
  std::string name;
  std::function<Test*()> factory;
};

struct State {
  std::vector<Entry> tests;
  std::string filter = "*";
  bool list_only = false;
  bool failed = false;
  bool fatal = false;
  bool skipped = false;
};

State& GetState() {
  static State state;
  return state;
}

// Glob match with '*' and '?', as --gtest_filter uses.
bool Glob(const char* pattern, const char* text) {
  if (*pattern == '\0') {
    return *text == '\0';
  }
  if (*pattern == '*') {
    return Glob(pattern + 1, text) || (*text != '\0' && Glob(pattern, text + 1));
  }
  if (*text != '\0' && (*pattern == '?' || *pattern == *text)) {
    return Glob(pattern + 1, text + 1);
  }
  return false;
}

bool AnyMatch(const std::string& patterns, const std::string& name) {
  size_t start = 0;
  while (start <= patterns.size()) {
    size_t end = patterns.find(':', start);
    if (end == std::string::npos) {
      end = patterns.size();
    }
    if (end > start && Glob(patterns.substr(start, end - start).c_str(), name.c_str())) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

bool Selected(const std::string& full) {
  const std::string& f = GetState().filter;
  const size_t dash = f.find('-');
  const std::string positive = dash == std::string::npos ? f : f.substr(0, dash);
  const std::string negative = dash == std::string::npos ? "" : f.substr(dash + 1);
  return AnyMatch(positive.empty() ? "*" : positive, full) &&
         (negative.empty() || !AnyMatch(negative, full));
}

// Runs one test; returns 0 passed, 1 failed, 2 skipped.
int RunOne(const Entry& e) {
  State& s = GetState();
  s.failed = s.fatal = s.skipped = false;
  const std::string full = e.suite + "." + e.name;
  std::printf("[ RUN      ] %s\n", full.c_str());
  std::fflush(stdout);
  std::unique_ptr<Test> t(e.factory());
  t->SetUp();
  if (!s.fatal && !s.skipped) {
    t->TestBody();
  }
  t->TearDown();
  const int outcome = s.failed ? 1 : (s.skipped ? 2 : 0);
  static const char* const kTags[] = {"[       OK ]", "[  FAILED  ]", "[  SKIPPED ]"};
  std::printf("%s %s\n", kTags[outcome], full.c_str());
  std::fflush(stdout);
  return outcome;
}

}  // namespace

namespace internal {

bool Register(const char* suite, const char* name, std::function<Test*()> factory) {
  GetState().tests.push_back({suite, name, std::move(factory)});
  return true;
}

void Report(const char* file, int line, int kind, const std::string& text) {
  State& s = GetState();
  if (kind == 2) {
    s.skipped = true;
    std::printf("%s:%d: Skipped\n%s\n", file, line, text.c_str());
    return;
  }
  s.failed = true;
  s.fatal = s.fatal || kind == 1;
  std::printf("%s:%d: Failure\n%s\n", file, line, text.c_str());
}

bool CurrentSkippedOrFatal() { return GetState().skipped || GetState().fatal; }

}  // namespace internal

void InitGoogleTest(int* argc, char** argv) {
  State& s = GetState();
  for (int i = 1; i < *argc; ++i) {
    if (std::strcmp(argv[i], "--gtest_list_tests") == 0) {
      s.list_only = true;
    } else if (std::strncmp(argv[i], "--gtest_filter=", 15) == 0) {
      s.filter = argv[i] + 15;
    }
  }
}

int RunAllTests() {
  State& s = GetState();
  if (s.list_only) {
    std::string last_suite;
    for (const Entry& e : s.tests) {
      if (e.suite != last_suite) {
        std::printf("%s.\n", e.suite.c_str());
        last_suite = e.suite;
      }
      std::printf("  %s\n", e.name.c_str());
    }
    return 0;
  }
  int counts[3] = {0, 0, 0};
  for (const Entry& e : s.tests) {
    if (Selected(e.suite + "." + e.name)) {
      ++counts[RunOne(e)];
    }
  }
  std::printf("%d passed, %d failed, %d skipped\n", counts[0], counts[1], counts[2]);
  return counts[1] == 0 ? 0 : 1;
}

}  // namespace testing

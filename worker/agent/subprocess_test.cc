#include "worker/agent/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace sparsescale::agent {
namespace {

std::vector<std::string> ReadAll(Subprocess& child) {
  std::vector<std::string> lines;
  while (child.ReadLines(std::chrono::milliseconds(1000), &lines)) {
  }
  return lines;
}

TEST(SubprocessTest, CapturesStdoutLinesAndExitCode) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "echo one; printf 'two\\nthree'; exit 3"};
  options.capture_stdout = true;
  auto child = Subprocess::Spawn(options);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(ReadAll(*child), (std::vector<std::string>{"one", "two", "three"}));
  ExitInfo exit = child->Wait();
  EXPECT_EQ(exit.exit_code, 3);
  EXPECT_EQ(exit.signal, 0);
  EXPECT_EQ(exit.ToString(), "exit code 3");
}

TEST(SubprocessTest, MissingExecutableIsNotFound) {
  SpawnOptions options;
  options.argv = {"/nonexistent/binary"};
  auto child = Subprocess::Spawn(options);
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(child.status().message().find("/nonexistent/binary"), std::string::npos);
}

TEST(SubprocessTest, EmptyArgvIsInvalid) {
  EXPECT_EQ(Subprocess::Spawn({}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SubprocessTest, TerminateEscalatesToKillWhenTermIsIgnored) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"};
  options.capture_stdout = true;
  options.new_process_group = true;
  auto child = Subprocess::Spawn(options);
  ASSERT_TRUE(child.ok()) << child.status();
  std::vector<std::string> lines;
  while (lines.empty() && child->ReadLines(std::chrono::milliseconds(1000), &lines)) {
  }
  ExitInfo exit = child->Terminate(std::chrono::milliseconds(200));
  EXPECT_EQ(exit.signal, SIGKILL);
  EXPECT_FALSE(exit.ok());
}

TEST(SubprocessTest, WaitForTimesOutWhileRunningAndDestructorKills) {
  SpawnOptions options;
  options.argv = {"/bin/sleep", "30"};
  auto child = Subprocess::Spawn(options);
  ASSERT_TRUE(child.ok());
  EXPECT_FALSE(child->WaitFor(std::chrono::milliseconds(20)).has_value());
  pid_t pid = child->pid();
  { Subprocess gone = std::move(*child); }
  EXPECT_NE(kill(pid, 0), 0);  // Reaped: the pid no longer exists.
}

TEST(SubprocessTest, RedirectsStderrToAFileAndPassesEnvironment) {
  auto path = std::filesystem::temp_directory_path() / absl::StrCat("subproc_", getpid());
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "echo \"$SS_X\" >&2"};
  options.stderr_path = path.string();
  options.extra_env = {"SS_X=hello"};
  auto child = Subprocess::Spawn(options);
  ASSERT_TRUE(child.ok());
  EXPECT_TRUE(child->Wait().ok());
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "hello");
  std::filesystem::remove(path);
}

TEST(SubprocessTest, ExtraEnvironmentReplacesAnInheritedVariable) {
  ::setenv("SS_REPLACED", "parent", 1);
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c",
                  "test \"$(env | grep -c '^SS_REPLACED=')\" = 1 && "
                  "test \"$SS_REPLACED\" = child"};
  options.extra_env = {"SS_REPLACED=child"};
  auto child = Subprocess::Spawn(options);
  ::unsetenv("SS_REPLACED");
  ASSERT_TRUE(child.ok());
  EXPECT_TRUE(child->Wait().ok());
}

}  // namespace
}  // namespace sparsescale::agent

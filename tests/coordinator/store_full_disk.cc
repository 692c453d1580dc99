// The coordinator on a full disk: its SQLite file on a small tmpfs that the test fills to the
// last byte (a real ENOSPC), while a worker keeps reporting points. The store's trouble must be
// visible (cluster status and the running job say why), logged once with a count rather than
// once per failed commit, reads must keep working, and once space returns the retried reports
// are stored with nothing lost.
//
// The tmpfs is mounted in a mount namespace of this process's own (root needed), which a
// process can only enter while it has one thread: hence this binary's own main().
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/log_repeat.h"
#include "tests/coordinator/coordinator_fixture.h"

namespace sparsescale::coordinator::testing {
namespace {

// Set by main(): why the mount namespace could not be made ("" when it was).
std::string g_namespace_error;

class FullDiskTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    ASSERT_EQ(g_namespace_error, "") << "this test needs root to mount a tmpfs";
    disk_ = dir_ + "/disk";
    std::filesystem::create_directories(disk_);
    ASSERT_EQ(::mount("tmpfs", disk_.c_str(), "tmpfs", 0, "size=8m"), 0)
        << "mount -t tmpfs -o size=8m on " << disk_ << ": " << std::strerror(errno);
    mounted_ = true;
    options().coordinator.db_path = disk_ + "/coordinator.db";
  }

  void TearDown() override {
    StopServer();
    RestoreStderr();
    if (mounted_) {
      ::umount2(disk_.c_str(), MNT_DETACH);
    }
    CoordinatorFixture::TearDown();
  }

  // Writes a filler file until the filesystem has no byte left.
  void FillDisk() {
    const int fd = ::open((disk_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    const std::string block(64 * 1024, 'f');
    for (size_t size = block.size(); size > 0;) {
      if (::write(fd, block.data(), size) < 0) {
        ASSERT_EQ(errno, ENOSPC);
        size /= 2;  // the last few pages
      }
    }
    ::close(fd);
  }

  void CaptureStderr() {
    log_path_ = dir_ + "/stderr.log";
    saved_stderr_ = ::dup(STDERR_FILENO);
    const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }

  // Everything logged since CaptureStderr.
  std::string RestoreStderr() {
    if (saved_stderr_ < 0) {
      return "";
    }
    ::dup2(saved_stderr_, STDERR_FILENO);
    ::close(saved_stderr_);
    saved_stderr_ = -1;
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  v1::StoreHealth StoreHealthNow() {
    v1::GetClusterStatusResponse status;
    EXPECT_TRUE(
        client().GetClusterStatus(Context().get(), v1::GetClusterStatusRequest(), &status).ok());
    return status.store();
  }

  std::string disk_;
  bool mounted_ = false;
  std::string log_path_;
  int saved_stderr_ = -1;
};

int CountOccurrences(const std::string& text, const std::string& needle) {
  int count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

TEST_F(FullDiskTest, AFullDiskIsReportedOnceWithACountAndNothingIsLostWhenSpaceReturns) {
  SetLogRepeatWindowMs(200);
  StartServer();
  const std::string job_id = Submit(TinySpec(/*tokens=*/10'000'000), "s").job().id();
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  ASSERT_TRUE(Report(w, job_id, 1, MakePoints(1, 100)).ok());
  EXPECT_TRUE(StoreHealthNow().last_error().empty());

  FillDisk();
  CaptureStderr();
  // The worker keeps reporting; a report that fails is sent again (as a worker does).
  int64_t next_step = 101;
  int failures = 0;
  const auto start = std::chrono::steady_clock::now();
  while ((failures < 100 || std::chrono::steady_clock::now() - start < std::chrono::seconds(1)) &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    const grpc::Status status = Report(w, job_id, 1, MakePoints(next_step, 20));
    if (status.ok()) {
      next_step += 20;  // the WAL still had room
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
      ++failures;
    }
  }
  ASSERT_GE(failures, 100) << "the disk never filled";

  // Visible: cluster status and the running job say what is wrong and since when.
  const v1::StoreHealth failing = StoreHealthNow();
  EXPECT_EQ(failing.failure_kind(), "disk full");
  EXPECT_NE(failing.last_error().find("full"), std::string::npos) << failing.last_error();
  EXPECT_GT(failing.failing_since_unix_ms(), 0);
  EXPECT_GE(failing.failing_batches(), failures);
  EXPECT_LT(failing.disk_free_bytes(), 64 * 1024);
  // Reads keep working.
  const v1::Job blocked = GetJob(job_id);
  EXPECT_EQ(blocked.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(blocked.step(), next_step - 1);
  EXPECT_EQ(blocked.blocked().rfind("store: cannot write: disk full since ", 0), 0u)
      << blocked.blocked();

  // Logged once per window with a count, not once per failure.
  const std::string log = RestoreStderr();
  const int lines = CountOccurrences(log, "store write failed");
  EXPECT_GE(lines, 1) << log;
  EXPECT_LT(lines, failures / 5) << log;
  EXPECT_NE(log.find("times in "), std::string::npos) << log;

  // Space returns: the retried report and the ones after it are stored, nothing lost.
  std::filesystem::remove(disk_ + "/filler");
  ASSERT_TRUE(Report(w, job_id, 1, MakePoints(next_step, 20)).ok());
  next_step += 20;
  ASSERT_TRUE(Report(w, job_id, 1, MakePoints(next_step, 20)).ok());
  next_step += 20;
  const v1::StoreHealth healthy = StoreHealthNow();
  EXPECT_TRUE(healthy.last_error().empty()) << healthy.last_error();
  EXPECT_EQ(healthy.failing_since_unix_ms(), 0);
  EXPECT_GE(healthy.write_errors(), failures);
  EXPECT_EQ(GetJob(job_id).blocked(), "");
  const std::vector<v1::LossPoint> curve = Curve(job_id);
  ASSERT_EQ(static_cast<int64_t>(curve.size()), next_step - 1);
  for (size_t i = 0; i < curve.size(); ++i) {
    ASSERT_EQ(curve[i].step(), static_cast<int64_t>(i) + 1);
  }
  SetLogRepeatWindowMs(kRepeatWindowMs);
}

}  // namespace
}  // namespace sparsescale::coordinator::testing

int main(int argc, char** argv) {
  // Before any thread exists: a mount namespace of this process's own, with mounts private so
  // that the tmpfs is seen by nothing else.
  using sparsescale::coordinator::testing::g_namespace_error;
  if (::unshare(CLONE_NEWNS) != 0) {
    g_namespace_error = absl::StrCat("unshare(CLONE_NEWNS): ", std::strerror(errno));
  } else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    g_namespace_error = absl::StrCat("mount --make-rprivate /: ", std::strerror(errno));
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

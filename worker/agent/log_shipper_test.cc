#include "worker/agent/log_shipper.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace sparsescale::agent {
namespace {

namespace fs = std::filesystem;

class LogShipperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("log_shipper_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "job.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Append(const std::string& text) {
    std::ofstream(path_, std::ios::app | std::ios::binary) << text;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(LogShipperTest, AMissingFileIsNotAnErrorAndHasNothingToSend) {
  LogShipper shipper(path_, 1024, 16);
  EXPECT_TRUE(shipper.Poll().ok());
  EXPECT_TRUE(shipper.empty());
}

TEST_F(LogShipperTest, ChunksCarryTheirOffsetAndAcknowledgedBytesAreForgotten) {
  LogShipper shipper(path_, 1024, 4);
  Append("hello world\n");
  ASSERT_TRUE(shipper.Poll().ok());
  EXPECT_EQ(shipper.next_offset(), 0);
  EXPECT_EQ(shipper.next_chunk(), "hell");
  shipper.Ack(4);
  EXPECT_EQ(shipper.next_offset(), 4);
  EXPECT_EQ(shipper.next_chunk(), "o wo");
  // An acknowledgement that is not news changes nothing.
  shipper.Ack(2);
  EXPECT_EQ(shipper.next_offset(), 4);
  Append("more\n");
  ASSERT_TRUE(shipper.Poll().ok());
  EXPECT_EQ(shipper.pending_bytes(), 13u);
  shipper.Ack(17);
  EXPECT_TRUE(shipper.empty());
  EXPECT_EQ(shipper.next_offset(), 17);
}

TEST_F(LogShipperTest, PastTheBoundTheOldestUnsentBytesAreDropped) {
  LogShipper shipper(path_, 8, 100);
  Append("0123");
  ASSERT_TRUE(shipper.Poll().ok());
  Append("456789ab");
  ASSERT_TRUE(shipper.Poll().ok());
  EXPECT_EQ(shipper.next_chunk(), "456789ab");
  EXPECT_EQ(shipper.next_offset(), 4);
  EXPECT_EQ(shipper.dropped_bytes(), 4);
}

TEST_F(LogShipperTest, AFileThatGrewPastTheBoundIsReadFromItsTail) {
  LogShipper shipper(path_, 10, 100);
  std::string grown(1000, 'x');
  grown += "0123456789";
  Append(grown);
  ASSERT_TRUE(shipper.Poll().ok());
  EXPECT_EQ(shipper.next_chunk(), "0123456789");
  EXPECT_EQ(shipper.next_offset(), 1000);
  EXPECT_EQ(shipper.dropped_bytes(), 1000);
}

}  // namespace
}  // namespace sparsescale::agent

// ExchangeThroughCoordinator against a fake of the coordinator's Rendezvous semantics.
#include "worker/agent/coordinator_rendezvous.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace sparsescale::agent {
namespace {

namespace v1 = sparsescale::v1;

// Like CoordinatorCore::Rendezvous: rank 0 fills the slot; the others wait up to wait_ms.
class FakeCoordinator {
 public:
  absl::StatusOr<v1::RendezvousResponse> Call(const v1::RendezvousRequest& r) {
    std::unique_lock<std::mutex> lock(mu_);
    ++calls_;
    if (r.attempt() != 1) {
      return absl::FailedPreconditionError("attempt: not the running attempt");
    }
    if (unavailable_left_ > 0) {
      --unavailable_left_;
      return absl::UnavailableError("coordinator restarting");
    }
    if (r.rank() == 0) {
      slot_ = r.unique_id();
      cv_.notify_all();
    }
    if (!cv_.wait_for(lock, std::chrono::milliseconds(r.wait_ms()),
                      [&] { return !slot_.empty(); })) {
      return absl::DeadlineExceededError("rank 0 has not supplied the unique id yet");
    }
    v1::RendezvousResponse response;
    response.set_unique_id(slot_);
    return response;
  }
  RendezvousCall AsCall() {
    return [this](const v1::RendezvousRequest& r) { return Call(r); };
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  void FailNext(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    unavailable_left_ = n;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string slot_;
  int calls_ = 0;
  int unavailable_left_ = 0;
};

TEST(CoordinatorRendezvousTest, RanksWaitingBeforeRankZeroGetItsAddress) {
  FakeCoordinator coordinator;
  std::string got1, got2;
  std::thread r1([&] {
    got1 = *ExchangeThroughCoordinator(coordinator.AsCall(), "j", 1, 1, "", std::chrono::seconds(5),
                                       std::chrono::milliseconds(20));
  });
  std::thread r2([&] {
    got2 = *ExchangeThroughCoordinator(coordinator.AsCall(), "j", 1, 2, "", std::chrono::seconds(5),
                                       std::chrono::milliseconds(20));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(60));  // several polls time out first
  auto mine = ExchangeThroughCoordinator(coordinator.AsCall(), "j", 1, 0, "127.0.0.1:4242",
                                         std::chrono::seconds(5));
  r1.join();
  r2.join();
  EXPECT_EQ(*mine, "127.0.0.1:4242");
  EXPECT_EQ(got1, "127.0.0.1:4242");
  EXPECT_EQ(got2, "127.0.0.1:4242");
}

TEST(CoordinatorRendezvousTest, UnavailableIsRetriedAndAStaleAttemptIsFinal) {
  FakeCoordinator coordinator;
  coordinator.FailNext(2);
  auto published =
      ExchangeThroughCoordinator(coordinator.AsCall(), "j", 1, 0, "addr", std::chrono::seconds(5));
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(coordinator.calls(), 3);
  auto stale =
      ExchangeThroughCoordinator(coordinator.AsCall(), "j", 2, 1, "", std::chrono::seconds(5));
  EXPECT_TRUE(absl::IsFailedPrecondition(stale.status())) << stale.status();
}

TEST(CoordinatorRendezvousTest, MissingRankZeroIsDeadlineExceededNamingTheJob) {
  FakeCoordinator coordinator;
  auto got =
      ExchangeThroughCoordinator(coordinator.AsCall(), "job-7", 1, 1, "",
                                 std::chrono::milliseconds(80), std::chrono::milliseconds(20));
  ASSERT_TRUE(absl::IsDeadlineExceeded(got.status())) << got.status();
  EXPECT_NE(got.status().message().find("job-7"), std::string::npos);
  EXPECT_NE(got.status().message().find("the coordinator did not deliver rank 0's address"),
            std::string::npos)
      << got.status();
}

TEST(CoordinatorRendezvousTest, ExchangeForEachRankCarriesRankZerosValue) {
  FakeCoordinator coordinator;
  RendezvousExchange rank0 =
      MakeCoordinatorExchange(coordinator.AsCall(), "j", 1, 0, std::chrono::seconds(5));
  RendezvousExchange rank1 =
      MakeCoordinatorExchange(coordinator.AsCall(), "j", 1, 1, std::chrono::seconds(5));
  absl::StatusOr<std::string> got;
  std::thread other([&] { got = rank1(""); });
  auto published = rank0("127.0.0.1:4242");
  other.join();
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(*published, "127.0.0.1:4242");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "127.0.0.1:4242");
}

TEST(CoordinatorRendezvousTest, FlagsAreAllOrNoneAndRoundTripThroughArgs) {
  auto none = ParseCoordinatorRendezvousFlags("", "", "");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->enabled());
  EXPECT_TRUE(none->ToArgs().empty());
  auto all = ParseCoordinatorRendezvousFlags("127.0.0.1:7070", "abc", "3");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->enabled());
  EXPECT_EQ(all->attempt, 3);
  EXPECT_EQ(all->ToArgs(), (std::vector<std::string>{"--coordinator", "127.0.0.1:7070", "--job-id",
                                                     "abc", "--attempt", "3"}));
}

TEST(CoordinatorRendezvousTest, BadFlagsAreInvalidArgumentNamingTheFlag) {
  struct Case {
    std::string coordinator, job_id, attempt, flag;
  };
  for (const Case& c : std::vector<Case>{{"h:1", "j", "two", "--attempt"},
                                         {"h:1", "j", "0", "--attempt"},
                                         {"h:1", "j", "-4", "--attempt"},
                                         {"h:1", "j", "", "--attempt"},
                                         {"h:1", "", "1", "--job-id"},
                                         {"", "j", "1", "--coordinator"}}) {
    auto got = ParseCoordinatorRendezvousFlags(c.coordinator, c.job_id, c.attempt);
    ASSERT_TRUE(absl::IsInvalidArgument(got.status())) << c.attempt << " " << got.status();
    EXPECT_EQ(got.status().message().rfind(c.flag + ":", 0), 0u) << got.status();
  }
  auto bad = ParseCoordinatorRendezvousFlags("h:1", "j", "two");
  EXPECT_NE(bad.status().message().find("\"two\""), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace sparsescale::agent

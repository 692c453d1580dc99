#include "coordinator/core/request_ledger.h"

#include "gtest/gtest.h"

namespace sparsescale::coordinator {
namespace {

RequestLedger::Lookup Store(std::map<std::string, RequestLedger::Stored>* stored) {
  return [stored](const std::string& id) -> absl::StatusOr<std::optional<RequestLedger::Stored>> {
    auto it = stored->find(id);
    if (it == stored->end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

TEST(RequestLedgerTest, FirstRequestRunsAndRetriesReplayItsAnswer) {
  std::map<std::string, RequestLedger::Stored> stored;
  RequestLedger ledger(Store(&stored), 10);
  EXPECT_EQ(ledger.Begin("r", "fp")->verdict, RequestLedger::Verdict::kNew);
  EXPECT_EQ(ledger.Begin("r", "fp")->verdict, RequestLedger::Verdict::kInFlight);
  int retried = 0;
  ledger.Wait("r", [&] { ++retried; });
  ledger.Finish("r", std::string("answer"));
  EXPECT_EQ(retried, 1);
  auto replay = ledger.Begin("r", "fp");
  EXPECT_EQ(replay->verdict, RequestLedger::Verdict::kReplay);
  EXPECT_EQ(replay->response, "answer");
  EXPECT_EQ(ledger.Begin("r", "other")->verdict, RequestLedger::Verdict::kConflict);
}

TEST(RequestLedgerTest, FailedRequestIsForgottenSoARetryRunsAgain) {
  std::map<std::string, RequestLedger::Stored> stored;
  RequestLedger ledger(Store(&stored), 10);
  ASSERT_EQ(ledger.Begin("r", "fp")->verdict, RequestLedger::Verdict::kNew);
  ledger.Finish("r", absl::UnavailableError("disk"));
  EXPECT_EQ(ledger.Begin("r", "fp")->verdict, RequestLedger::Verdict::kNew);
}

TEST(RequestLedgerTest, ForgottenAnswersComeBackFromTheStore) {
  std::map<std::string, RequestLedger::Stored> stored;
  RequestLedger ledger(Store(&stored), 1);
  for (const std::string id : {"a", "b"}) {
    ASSERT_EQ(ledger.Begin(id, "fp")->verdict, RequestLedger::Verdict::kNew);
    stored[id] = {.fingerprint = "fp", .response = "answer-" + id};
    ledger.Finish(id, "answer-" + id);
  }
  auto a = ledger.Begin("a", "fp");  // evicted from memory (capacity 1)
  EXPECT_EQ(a->verdict, RequestLedger::Verdict::kReplay);
  EXPECT_EQ(a->response, "answer-a");
}

}  // namespace
}  // namespace sparsescale::coordinator

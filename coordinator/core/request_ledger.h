// The idempotency ledger in memory: which client request ids are in flight, and the answers of
// recently finished ones (older answers are looked up in the store's `requests` table, which
// the operation itself writes in the same transaction as its effects).
// Thread-safety: not thread-safe; owned by the coordinator's Asio thread.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sparsescale::coordinator {

class RequestLedger {
 public:
  // Looks up stored answers that are not in memory (the store); nullopt when absent.
  struct Stored {
    std::string fingerprint;
    std::string response;
  };
  using Lookup = std::function<absl::StatusOr<std::optional<Stored>>(const std::string& id)>;

  enum class Verdict { kNew, kReplay, kConflict, kInFlight };
  struct Decision {
    Verdict verdict = Verdict::kNew;
    std::string response;  // kReplay: the serialised first answer
  };

  RequestLedger(Lookup lookup, size_t remembered);

  // Decides what to do with a request. kInFlight: call Wait() to be re-run once the first one
  // finishes. Errors only when the store lookup fails.
  absl::StatusOr<Decision> Begin(const std::string& request_id, const std::string& fingerprint);
  void Wait(const std::string& request_id, std::function<void()> retry);
  // The first request finished: remember its answer (or forget it after an error, so a retry
  // runs again) and re-run the waiters.
  void Finish(const std::string& request_id, const absl::StatusOr<std::string>& response);

 private:
  struct Entry {
    std::string fingerprint;
    bool in_flight = true;
    std::string response;
    std::vector<std::function<void()>> waiters;
    std::list<std::string>::iterator lru;
  };

  void Remember(const std::string& request_id, Entry& entry);

  Lookup lookup_;
  const size_t remembered_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // finished entries, most recent first
};

}  // namespace sparsescale::coordinator

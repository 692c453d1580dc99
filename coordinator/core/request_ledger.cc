#include "coordinator/core/request_ledger.h"

#include "common/status.h"

namespace sparsescale::coordinator {

RequestLedger::RequestLedger(Lookup lookup, size_t remembered)
    : lookup_(std::move(lookup)), remembered_(remembered) {}

absl::StatusOr<RequestLedger::Decision> RequestLedger::Begin(const std::string& request_id,
                                                             const std::string& fingerprint) {
  auto it = entries_.find(request_id);
  if (it == entries_.end()) {
    ASSIGN_OR_RETURN(std::optional<Stored> stored, lookup_(request_id));
    if (stored.has_value()) {
      Entry& entry = entries_[request_id];
      entry.fingerprint = stored->fingerprint;
      entry.response = std::move(stored->response);
      entry.in_flight = false;
      lru_.push_front(request_id);
      entry.lru = lru_.begin();
      it = entries_.find(request_id);
    } else {
      Entry& entry = entries_[request_id];
      entry.fingerprint = fingerprint;
      return Decision{.verdict = Verdict::kNew, .response = ""};
    }
  }
  Entry& entry = it->second;
  if (entry.fingerprint != fingerprint) {
    return Decision{.verdict = Verdict::kConflict, .response = ""};
  }
  if (entry.in_flight) {
    return Decision{.verdict = Verdict::kInFlight, .response = ""};
  }
  return Decision{.verdict = Verdict::kReplay, .response = entry.response};
}

void RequestLedger::Wait(const std::string& request_id, std::function<void()> retry) {
  entries_.at(request_id).waiters.push_back(std::move(retry));
}

void RequestLedger::Finish(const std::string& request_id,
                           const absl::StatusOr<std::string>& response) {
  auto it = entries_.find(request_id);
  if (it == entries_.end()) {
    return;
  }
  std::vector<std::function<void()>> waiters = std::move(it->second.waiters);
  if (response.ok()) {
    it->second.in_flight = false;
    it->second.response = *response;
    Remember(request_id, it->second);
  } else {
    entries_.erase(it);
  }
  for (auto& retry : waiters) {
    retry();
  }
}

void RequestLedger::Remember(const std::string& request_id, Entry& entry) {
  lru_.push_front(request_id);
  entry.lru = lru_.begin();
  while (lru_.size() > remembered_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
}

}  // namespace sparsescale::coordinator

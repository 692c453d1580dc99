// CoordinatorCore: the one shape of a mutating operation - decide on the state thread, write,
// commit, then answer - with the idempotency ledger, and the persistence of scheduler
// transitions.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/log_repeat.h"
#include "common/status.h"
#include "coordinator/core/core.h"
#include "coordinator/core/proto_convert.h"

namespace sparsescale::coordinator {
namespace {

void Reply(const CoordinatorCore::Done& done, const absl::Status& status) {
  if (done) {
    done(status);
  }
}

absl::Status ApplyTransition(store::Store& store, const scheduler::Transition& t,
                             int64_t now_unix_ms) {
  switch (t.kind) {
    case scheduler::Transition::Kind::kGranted:
      return store.RecordGrant(GrantFromTransition(t), now_unix_ms);
    case scheduler::Transition::Kind::kAttemptEnded:
      return store.RecordAttemptEnd(AttemptEndFromTransition(t), now_unix_ms);
    case scheduler::Transition::Kind::kCancelRequested:
      return store.SetCancelRequested(t.job_id, now_unix_ms);
    case scheduler::Transition::Kind::kMemberLease:
    case scheduler::Transition::Kind::kMemberEnded:
      return absl::OkStatus();  // a gang member's share: the attempt row is rank 0's
  }
  return absl::InternalError("unknown transition");
}

const char* FailureClassLabel(scheduler::Failure failure) {
  switch (failure) {
    case scheduler::Failure::kInfra:
      return "INFRA";
    case scheduler::Failure::kJob:
      return "JOB";
    case scheduler::Failure::kNone:
      break;
  }
  return "NONE";
}

}  // namespace

absl::Status CoordinatorCore::ApplyTransitions(
    store::Store& store, const std::vector<scheduler::Transition>& transitions,
    int64_t now_unix_ms) {
  for (const scheduler::Transition& t : transitions) {
    RETURN_IF_ERROR(ApplyTransition(store, t, now_unix_ms));
  }
  return absl::OkStatus();
}

void CoordinatorCore::Run(Decide decide, Done done) {
  Post([this, decide = std::move(decide), done = std::move(done)] {
    absl::StatusOr<Plan> plan = decide();
    if (!plan.ok()) {
      done(plan.status());
      return;
    }
    Commit(std::move(*plan), done);
  });
}

void CoordinatorCore::RunOnce(Once once, Decide decide, Done done) {
  Post([this, once = std::move(once), decide = std::move(decide), done = std::move(done)] {
    DecideOnce(once, decide, done);
  });
}

void CoordinatorCore::DecideOnce(Once once, Decide decide, Done done) {
  absl::StatusOr<RequestLedger::Decision> seen = ledger_->Begin(once.request_id, once.fingerprint);
  if (!seen.ok()) {
    done(seen.status());
    return;
  }
  switch (seen->verdict) {
    case RequestLedger::Verdict::kReplay:
      if (!once.response->ParseFromString(seen->response)) {
        done(absl::DataLossError("stored answer of request_id " + once.request_id + " is corrupt"));
        return;
      }
      done(absl::OkStatus());
      return;
    case RequestLedger::Verdict::kConflict:
      done(absl::AlreadyExistsError(absl::StrCat(
          "request_id: ", once.request_id, " was already used for a different request")));
      return;
    case RequestLedger::Verdict::kInFlight:
      ledger_->Wait(once.request_id, [=, this] { DecideOnce(once, decide, done); });
      return;
    case RequestLedger::Verdict::kNew:
      break;
  }
  absl::StatusOr<Plan> plan = decide();
  if (!plan.ok()) {
    ledger_->Finish(once.request_id, plan.status());
    done(plan.status());
    return;
  }
  Commit(Remembered(std::move(once), std::move(*plan)), std::move(done));
}

CoordinatorCore::Plan CoordinatorCore::Remembered(Once once, Plan plan) {
  // Serialised on the writer thread, before the caller owns the response again.
  auto answer = std::make_shared<std::string>();
  const int64_t now = NowUnixMs();
  plan.write = [write = std::move(plan.write), once, answer, now](store::Store& store) {
    if (write) {
      RETURN_IF_ERROR(write(store));
    }
    *answer = once.response->SerializeAsString();
    return store.InsertRequest(once.request_id, once.fingerprint, *answer, now);
  };
  plan.then = [this, then = std::move(plan.then), id = once.request_id,
               answer](const absl::Status& status) {
    if (then) {
      then(status);
    }
    ledger_->Finish(id, status.ok() ? absl::StatusOr<std::string>(*answer) : status);
  };
  return plan;
}

void CoordinatorCore::Commit(Plan plan, Done done) {
  if (plan.compute) {
    boost::asio::post(fit_pool_, [this, plan = std::move(plan), done = std::move(done)] {
      ComputeThenCommit(plan, done);
    });
    return;
  }
  if (!plan.write) {  // only decided on the state thread, which runs `then` here
    if (plan.then) {
      plan.then(absl::OkStatus());
    }
    Reply(done, absl::OkStatus());
    return;
  }
  if (plan.answer == Answer::kAtOnce) {
    Reply(std::exchange(done, nullptr), absl::OkStatus());
  }
  writer_->Submit(std::move(plan.write), [this, answer = plan.answer, then = std::move(plan.then),
                                          done = std::move(done)](absl::Status status) {
    if (answer == Answer::kAtCommit) {
      Reply(done, status);
    }
    if (answer == Answer::kAfterThen || then) {
      Post([answer, then, done, status] {
        if (then) {
          then(status);
        }
        if (answer == Answer::kAfterThen) {
          Reply(done, status);
        }
      });
    }
  });
}

void CoordinatorCore::ComputeThenCommit(Plan plan, Done done) {
  const absl::Status computed = std::exchange(plan.compute, nullptr)();
  if (computed.ok()) {
    Commit(std::move(plan), std::move(done));
    return;
  }
  Post([then = std::move(plan.then), done = std::move(done), computed] {
    if (then) {
      then(computed);
    }
    Reply(done, computed);
  });
}

CoordinatorCore::Plan CoordinatorCore::PersistPlan(
    std::vector<scheduler::Transition> transitions) {
  auto shared = std::make_shared<const std::vector<scheduler::Transition>>(std::move(transitions));
  const int64_t now = NowUnixMs();
  return Plan{
      .write = [shared, now](store::Store& store) { return ApplyTransitions(store, *shared, now); },
      .then =
          [this, shared](const absl::Status& status) {
            if (!status.ok()) {
              LogRepeated(LogLevel::kError, "core-persist-transitions",
                          absl::StrCat("persisting transitions failed: ", status.ToString()));
            }
            AfterTransitions(*shared);
          },
  };
}

void CoordinatorCore::CountTransitions(const std::vector<scheduler::Transition>& transitions) {
  for (const scheduler::Transition& t : transitions) {
    if (t.kind == scheduler::Transition::Kind::kGranted) {
      metrics_.leases_granted.Add();
      continue;
    }
    if (t.kind != scheduler::Transition::Kind::kAttemptEnded || t.attempt == 0) {
      continue;
    }
    if (absl::StartsWith(t.reason, "lease expired")) {
      metrics_.leases_expired.Add();
    }
    if (t.state == scheduler::JobPhase::kQueued) {
      metrics_.retries.With({{"failure_class", FailureClassLabel(t.failure)}}).Add();
    }
  }
}

void CoordinatorCore::AfterTransitions(const std::vector<scheduler::Transition>& transitions) {
  CountTransitions(transitions);
  for (const scheduler::Transition& t : transitions) {
    if (t.kind == scheduler::Transition::Kind::kAttemptEnded && t.attempt > 0) {
      EndRendezvous(t.job_id, t.attempt);
    }
    NotifyWatchers(t.job_id);
  }
  ServeWaiters();
}

}  // namespace sparsescale::coordinator

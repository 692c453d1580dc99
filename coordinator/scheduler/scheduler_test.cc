#include "coordinator/scheduler/scheduler.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sparsescale::scheduler {
namespace {

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : scheduler_(Options(), &clock_) {}

  static SchedulerOptions Options() {
    SchedulerOptions options;
    options.lease_ttl_ms = 10'000;
    options.hang_timeout_ms = 60'000;
    options.restart_grace_ms = 20'000;
    return options;
  }

  JobInit Job(const std::string& id, int priority = 0, const std::string& device = "auto",
              int gpus = 1, int64_t memory = 0) {
    JobInit job;
    job.id = id;
    job.seq = ++seq_;
    job.priority = priority;
    job.requirements = {.device = device, .gpus = gpus, .memory_bytes = memory, .ranks = 1};
    job.max_attempts = 3;
    return job;
  }

  // A data-parallel job of `ranks` processes (device "cpu": spec.processes; otherwise gpus).
  JobInit Ranked(const std::string& id, const std::string& device, int ranks) {
    JobInit job = Job(id, 0, device, device == "cpu" ? 1 : ranks);
    job.requirements.ranks = ranks;
    return job;
  }

  static WorkerResources Machine(const std::string& kind, int gpus, int64_t memory_bytes,
                                 int slots) {
    return {.device_kind = kind, .gpus = gpus, .memory_bytes = memory_bytes, .slots = slots};
  }

  void Cpu(const std::string& id, int slots = 1) {
    scheduler_.RegisterWorker(id, Machine("cpu", 0, 0, slots));
  }

  std::vector<std::string> AcquireIds(const std::string& worker, int max = 0) {
    auto grants = scheduler_.Acquire(worker, max);
    EXPECT_TRUE(grants.ok()) << grants.status();
    std::vector<std::string> ids;
    for (const Transition& t : *grants) {
      ids.push_back(t.job_id);
    }
    return ids;
  }

  FakeClock clock_;
  Scheduler scheduler_;
  int64_t seq_ = 0;
};

TEST_F(SchedulerTest, HigherPriorityFirstThenFifo) {
  scheduler_.AddQueuedJob(Job("low-1", 0));
  scheduler_.AddQueuedJob(Job("high-1", 5));
  scheduler_.AddQueuedJob(Job("low-2", 0));
  scheduler_.AddQueuedJob(Job("high-2", 5));
  Cpu("w", 4);
  EXPECT_EQ(AcquireIds("w"), (std::vector<std::string>{"high-1", "high-2", "low-1", "low-2"}));
}

TEST_F(SchedulerTest, SlotsBoundLeasesPerWorker) {
  for (int i = 0; i < 5; ++i) {
    scheduler_.AddQueuedJob(Job("j" + std::to_string(i)));
  }
  Cpu("w", 2);
  EXPECT_EQ(AcquireIds("w").size(), 2u);
  EXPECT_TRUE(AcquireIds("w").empty());
  EXPECT_EQ(AcquireIds("w", 1).size(), 0u);
  EXPECT_EQ(scheduler_.queued(), 3u);
}

TEST_F(SchedulerTest, CudaJobsOnlyGoToCudaWorkersWithEnoughFreeGpus) {
  scheduler_.AddQueuedJob(Job("gang4", 9, "cuda", 4));
  scheduler_.AddQueuedJob(Job("cuda1", 0, "cuda", 1));
  scheduler_.AddQueuedJob(Job("cpu", 0, "cpu", 0));
  Cpu("cpu-worker", 4);
  EXPECT_EQ(AcquireIds("cpu-worker"), (std::vector<std::string>{"cpu"}));
  scheduler_.RegisterWorker("gpu2", Machine("cuda", 2, 0, 4));
  // The 4-GPU gang cannot be split: the 2-GPU worker gets only the 1-GPU job.
  EXPECT_EQ(AcquireIds("gpu2"), (std::vector<std::string>{"cuda1"}));
  scheduler_.RegisterWorker("gpu8", Machine("cuda", 8, 0, 4));
  EXPECT_EQ(AcquireIds("gpu8"), (std::vector<std::string>{"gang4"}));
}

TEST_F(SchedulerTest, GangWaitsUntilAllItsGpusAreFree) {
  scheduler_.RegisterWorker("gpu4", Machine("cuda", 4, 0, 4));
  scheduler_.AddQueuedJob(Job("one", 0, "cuda", 1));
  ASSERT_EQ(AcquireIds("gpu4").size(), 1u);
  scheduler_.AddQueuedJob(Job("gang4", 0, "cuda", 4));
  EXPECT_TRUE(AcquireIds("gpu4").empty());
  ASSERT_TRUE(scheduler_.Complete("one", 1, "gpu4", Outcome::kSucceeded, Failure::kNone, "").ok());
  EXPECT_EQ(AcquireIds("gpu4"), (std::vector<std::string>{"gang4"}));
}

TEST_F(SchedulerTest, CpuRanksTakeOneSlotEachAndAreNeverOversubscribed) {
  scheduler_.AddQueuedJob(Ranked("dp3", "cpu", 3));
  scheduler_.AddQueuedJob(Job("one", 0, "cpu", 0));
  scheduler_.AddQueuedJob(Job("two", 0, "cpu", 0));
  Cpu("w", 4);
  // The 3-rank job takes 3 of the 4 slots, so only one single-process job runs beside it.
  EXPECT_EQ(AcquireIds("w"), (std::vector<std::string>{"dp3", "one"}));
  EXPECT_TRUE(AcquireIds("w").empty());
  ASSERT_TRUE(scheduler_.Complete("dp3", 1, "w", Outcome::kSucceeded, Failure::kNone, "").ok());
  EXPECT_EQ(AcquireIds("w"), (std::vector<std::string>{"two"}));
}

TEST_F(SchedulerTest, MultiRankCpuJobWaitingForSlotsHoldsThemAgainstSmallerJobsBehindIt) {
  // Until multi-node gangs, "small" backfilled the free slot here and a stream of such jobs
  // could hold dp2 off for ever; the reservation now keeps the freed slot for dp2.
  Cpu("w", 2);
  scheduler_.AddQueuedJob(Job("first", 0, "cpu", 0));
  ASSERT_EQ(AcquireIds("w"), (std::vector<std::string>{"first"}));
  scheduler_.AddQueuedJob(Ranked("dp2", "cpu", 2));
  scheduler_.AddQueuedJob(Job("small", 0, "cpu", 0));
  EXPECT_TRUE(AcquireIds("w").empty());  // the free slot is held for dp2
  EXPECT_EQ(scheduler_.ReservedJob(), "dp2");
  ASSERT_TRUE(scheduler_.Complete("first", 1, "w", Outcome::kSucceeded, Failure::kNone, "").ok());
  EXPECT_EQ(AcquireIds("w"), (std::vector<std::string>{"dp2"}));
  EXPECT_EQ(scheduler_.ReservedJob(), "");
  ASSERT_TRUE(scheduler_.Complete("dp2", 1, "w", Outcome::kSucceeded, Failure::kNone, "").ok());
  EXPECT_EQ(AcquireIds("w"), (std::vector<std::string>{"small"}));
}

TEST_F(SchedulerTest, HigherPriorityJobsStillPassAReservedJob) {
  Cpu("w", 2);
  scheduler_.AddQueuedJob(Job("first", 0, "cpu", 0));
  ASSERT_EQ(AcquireIds("w"), (std::vector<std::string>{"first"}));
  scheduler_.AddQueuedJob(Ranked("dp2", "cpu", 2));
  scheduler_.AddQueuedJob(Job("urgent", 9, "cpu", 0));
  EXPECT_EQ(AcquireIds("w"), (std::vector<std::string>{"urgent"}));  // ahead of dp2
}

TEST_F(SchedulerTest, ReleasedMultiRankJobGivesBackAllItsSlots) {
  Cpu("w", 3);
  scheduler_.AddQueuedJob(Ranked("dp3", "cpu", 3));
  ASSERT_EQ(AcquireIds("w"), (std::vector<std::string>{"dp3"}));
  scheduler_.AddQueuedJob(Job("a", 0, "cpu", 0));
  EXPECT_TRUE(AcquireIds("w").empty());
  ASSERT_TRUE(scheduler_.Complete("dp3", 1, "w", Outcome::kReleased, Failure::kNone, "").ok());
  // Requeued ahead of "a" (its place in the queue is kept); it finds all 3 slots free again.
  EXPECT_EQ(AcquireIds("w"), (std::vector<std::string>{"dp3"}));
}

TEST_F(SchedulerTest, AutoJobTakesGpusOnACudaWorkerAndSlotsOnACpuWorker) {
  // A 2-rank "auto" job: one slot and 2 GPUs on a cuda worker, 2 slots as CPU ranks elsewhere.
  scheduler_.AddQueuedJob(Ranked("auto2", "auto", 2));
  scheduler_.RegisterWorker("gpu2", Machine("cuda", 2, 0, 1));
  EXPECT_EQ(AcquireIds("gpu2"), (std::vector<std::string>{"auto2"}));
  scheduler_.AddQueuedJob(Ranked("auto2-b", "auto", 2));
  Cpu("cpu1", 1);
  EXPECT_TRUE(AcquireIds("cpu1").empty());
  Cpu("cpu2", 2);
  EXPECT_EQ(AcquireIds("cpu2"), (std::vector<std::string>{"auto2-b"}));
}

TEST_F(SchedulerTest, RestoredMultiRankJobKeepsItsSlots) {
  scheduler_.RestoreWorker("w", Machine("cpu", 0, 0, 4));
  JobInit job = Ranked("dp3", "cpu", 3);
  job.attempt = 1;
  scheduler_.RestoreRunningJob(job, "w");
  scheduler_.AddQueuedJob(Job("one", 0, "cpu", 0));
  scheduler_.AddQueuedJob(Job("two", 0, "cpu", 0));
  EXPECT_EQ(AcquireIds("w"), (std::vector<std::string>{"one"}));  // 3 of 4 slots are dp3's
}

TEST_F(SchedulerTest, JobNoWorkerCouldEverHoldIsQueuedAndNamedByUnplaceable) {
  scheduler_.AddQueuedJob(Ranked("dp12", "cpu", 12));
  scheduler_.AddQueuedJob(Ranked("gang16", "cuda", 16));
  scheduler_.AddQueuedJob(Job("plain", 0, "cpu", 0));
  EXPECT_EQ(scheduler_.Unplaceable("dp12"), "no worker is registered");
  Cpu("w", 4);
  scheduler_.RegisterWorker("gpu8", Machine("cuda", 8, 0, 4));
  EXPECT_EQ(AcquireIds("w"), (std::vector<std::string>{"plain"}));
  EXPECT_TRUE(AcquireIds("gpu8").empty());
  EXPECT_EQ(scheduler_.queued(), 2u);
  EXPECT_EQ(scheduler_.Unplaceable("dp12"),
            "it needs 12 free slots for its 12 CPU ranks; all registered workers together have 8");
  EXPECT_EQ(scheduler_.Unplaceable("gang16"),
            "it needs 16 GPUs; all registered cuda workers together have 8");
  EXPECT_EQ(scheduler_.ReservedJob(), "");  // neither could ever run here: nothing is held
  EXPECT_EQ(scheduler_.Unplaceable("plain"), "");  // running, not queued
  scheduler_.AddQueuedJob(Ranked("dp4", "cpu", 4));
  EXPECT_EQ(scheduler_.Unplaceable("dp4"), "");  // fits once the worker is idle
  Cpu("big", 8);
  EXPECT_EQ(scheduler_.Unplaceable("dp12"), "");  // a gang across big and another worker
  // big asks first: ranks 0-7 there, 8-11 on gpu8 (4 free slots, more than w's 3).
  auto grants = scheduler_.Acquire("big", 0);
  ASSERT_TRUE(grants.ok());
  ASSERT_EQ(grants->size(), 1u);
  EXPECT_EQ((*grants)[0].job_id, "dp12");
  EXPECT_EQ((*grants)[0].rank_count, 8);
  EXPECT_EQ((*grants)[0].world_size, 12);
  EXPECT_EQ(scheduler_.HoldersOf("dp12", 1), (std::vector<std::string>{"big", "gpu8"}));
}

TEST_F(SchedulerTest, MemoryRequirementIsRespected) {
  scheduler_.RegisterWorker("small", Machine("cpu", 0, 1000, 4));
  scheduler_.AddQueuedJob(Job("big", 0, "cpu", 0, 5000));
  scheduler_.AddQueuedJob(Job("fits", 0, "cpu", 0, 600));
  scheduler_.AddQueuedJob(Job("fits-too", 0, "cpu", 0, 600));
  // The second 600-byte job no longer fits beside the first.
  EXPECT_EQ(AcquireIds("small"), (std::vector<std::string>{"fits"}));
}

TEST_F(SchedulerTest, UnknownWorkerIsNotFoundAndDrainingWorkerGetsNothing) {
  scheduler_.AddQueuedJob(Job("j"));
  EXPECT_EQ(scheduler_.Acquire("ghost", 0).status().code(), absl::StatusCode::kNotFound);
  Cpu("w");
  scheduler_.Heartbeat("w", {}, /*draining=*/true);
  EXPECT_TRUE(AcquireIds("w").empty());
}

TEST_F(SchedulerTest, ExpiredLeaseIsRequeuedAsInfraFailureAndResumesFromCheckpoint) {
  scheduler_.AddQueuedJob(Job("j"));
  Cpu("w1");
  ASSERT_EQ(AcquireIds("w1").size(), 1u);
  scheduler_.NoteCheckpoint("j", 40);
  clock_.AdvanceMs(9'999);
  EXPECT_TRUE(scheduler_.Tick().empty());
  clock_.AdvanceMs(1);
  auto transitions = scheduler_.Tick();
  ASSERT_EQ(transitions.size(), 1u);
  EXPECT_EQ(transitions[0].state, JobPhase::kQueued);
  EXPECT_EQ(transitions[0].failure, Failure::kInfra);
  EXPECT_EQ(transitions[0].step, 40);
  EXPECT_EQ(transitions[0].infra_failures, 1);
  Cpu("w2");
  auto grants = scheduler_.Acquire("w2", 0);
  ASSERT_EQ(grants->size(), 1u);
  EXPECT_EQ((*grants)[0].attempt, 2);
  EXPECT_EQ((*grants)[0].step, 40);
}

TEST_F(SchedulerTest, HeartbeatsRenewTheLease) {
  scheduler_.AddQueuedJob(Job("j"));
  Cpu("w");
  ASSERT_EQ(AcquireIds("w").size(), 1u);
  for (int i = 0; i < 10; ++i) {
    clock_.AdvanceMs(5'000);
    auto result = scheduler_.Heartbeat("w", {{"j", 1, 10 * (i + 1)}}, false);
    EXPECT_TRUE(result.orders.empty());
    EXPECT_TRUE(scheduler_.Tick().empty());
  }
  EXPECT_EQ(scheduler_.running(), 1u);
}

TEST_F(SchedulerTest, JobWithoutStepProgressIsRequeuedAsHung) {
  scheduler_.AddQueuedJob(Job("j"));
  Cpu("w");
  ASSERT_EQ(AcquireIds("w").size(), 1u);
  std::vector<Transition> transitions;
  for (int i = 0; i < 13 && transitions.empty(); ++i) {
    clock_.AdvanceMs(5'000);
    scheduler_.Heartbeat("w", {{"j", 1, 7}}, false);  // alive, but stuck at step 7
    transitions = scheduler_.Tick();
  }
  ASSERT_EQ(transitions.size(), 1u);
  EXPECT_NE(transitions[0].reason.find("hang"), std::string::npos);
  EXPECT_EQ(transitions[0].state, JobPhase::kQueued);
  // The hung worker is told to abandon its stale lease.
  auto result = scheduler_.Heartbeat("w", {{"j", 1, 7}}, false);
  ASSERT_EQ(result.orders.size(), 1u);
  EXPECT_EQ(result.orders[0].kind, OrderKind::kAbandon);
}

TEST_F(SchedulerTest, InfraFailuresAreRetriedUpToMaxAttempts) {
  scheduler_.AddQueuedJob(Job("j"));
  Cpu("w");
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto grants = scheduler_.Acquire("w", 0);
    ASSERT_EQ(grants->size(), 1u);
    EXPECT_EQ((*grants)[0].attempt, attempt);
    auto end = scheduler_.Complete("j", attempt, "w", Outcome::kFailed, Failure::kInfra, "oom");
    ASSERT_TRUE(end.ok());
    EXPECT_EQ(end->state, attempt < 3 ? JobPhase::kQueued : JobPhase::kFailed);
  }
  EXPECT_FALSE(scheduler_.HasJob("j"));
}

TEST_F(SchedulerTest, EndedAttemptsFreeTheWorkerAndOnlyFinalJobsAreForgotten) {
  scheduler_.AddQueuedJob(Job("a"));
  scheduler_.AddQueuedJob(Job("b"));
  Cpu("w");
  ASSERT_EQ(AcquireIds("w"), std::vector<std::string>{"a"});
  auto done = scheduler_.Complete("a", 1, "w", Outcome::kSucceeded, Failure::kNone, "");
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->job_id, "a");
  EXPECT_FALSE(scheduler_.HasJob("a"));
  ASSERT_EQ(AcquireIds("w"), std::vector<std::string>{"b"});  // the slot came back
  auto released = scheduler_.Complete("b", 1, "w", Outcome::kReleased, Failure::kNone, "");
  ASSERT_TRUE(released.ok());
  EXPECT_TRUE(scheduler_.HasJob("b"));
  EXPECT_EQ(scheduler_.queued(), 1u);
  EXPECT_EQ(scheduler_.running(), 0u);
}

TEST_F(SchedulerTest, JobFailureIsFinalWithoutRetryBudget) {
  scheduler_.AddQueuedJob(Job("j"));
  Cpu("w");
  ASSERT_EQ(AcquireIds("w").size(), 1u);
  auto end = scheduler_.Complete("j", 1, "w", Outcome::kFailed, Failure::kJob, "bad shard");
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->state, JobPhase::kFailed);
  EXPECT_EQ(end->failure, Failure::kJob);
  EXPECT_EQ(end->job_failures, 1);
}

TEST_F(SchedulerTest, JobFailureRetriesAreBoundedByTheirOwnBudget) {
  SchedulerOptions options = Options();
  options.job_failure_retries = 1;
  Scheduler scheduler(options, &clock_);
  scheduler.AddQueuedJob(Job("j"));
  scheduler.RegisterWorker("w", Machine("cpu", 0, 0, 1));
  ASSERT_EQ(scheduler.Acquire("w", 0)->size(), 1u);
  EXPECT_EQ(scheduler.Complete("j", 1, "w", Outcome::kFailed, Failure::kJob, "x")->state,
            JobPhase::kQueued);
  ASSERT_EQ(scheduler.Acquire("w", 0)->size(), 1u);
  EXPECT_EQ(scheduler.Complete("j", 2, "w", Outcome::kFailed, Failure::kJob, "x")->state,
            JobPhase::kFailed);
}

TEST_F(SchedulerTest, ReleasedLeaseRequeuesWithoutCountingAFailure) {
  scheduler_.AddQueuedJob(Job("j"));
  Cpu("w");
  ASSERT_EQ(AcquireIds("w").size(), 1u);
  auto end = scheduler_.Complete("j", 1, "w", Outcome::kReleased, Failure::kNone, "");
  EXPECT_EQ(end->state, JobPhase::kQueued);
  EXPECT_EQ(end->infra_failures + end->job_failures, 0);
}

TEST_F(SchedulerTest, StaleAttemptIsFencedOff) {
  scheduler_.AddQueuedJob(Job("j"));
  Cpu("zombie");
  Cpu("fresh");
  ASSERT_EQ(AcquireIds("zombie").size(), 1u);
  clock_.AdvanceMs(10'000);
  ASSERT_EQ(scheduler_.Tick().size(), 1u);
  ASSERT_EQ(AcquireIds("fresh").size(), 1u);
  auto stale = scheduler_.ValidateLease("j", 1, "zombie");
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.status().message().find("stale"), std::string::npos);
  EXPECT_EQ(scheduler_.Complete("j", 1, "zombie", Outcome::kSucceeded, Failure::kNone, "")
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(scheduler_.ValidateLease("j", 2, "zombie").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(scheduler_.ValidateLease("j", 2, "fresh").ok());
}

TEST_F(SchedulerTest, CancelOfQueuedJobIsImmediateAndOfRunningJobIsAnOrder) {
  scheduler_.AddQueuedJob(Job("queued"));
  scheduler_.AddQueuedJob(Job("running", 1));
  Cpu("w");
  ASSERT_EQ(AcquireIds("w"), (std::vector<std::string>{"running"}));
  auto queued = scheduler_.Cancel("queued");
  ASSERT_TRUE(queued.ok() && queued->has_value());
  EXPECT_EQ((*queued)->state, JobPhase::kCancelled);
  EXPECT_EQ((*queued)->attempt, 0);
  auto running = scheduler_.Cancel("running");
  ASSERT_TRUE(running.ok() && running->has_value());
  EXPECT_EQ((*running)->kind, Transition::Kind::kCancelRequested);
  EXPECT_FALSE(scheduler_.Cancel("running")->has_value());  // asked already
  auto result = scheduler_.Heartbeat("w", {{"running", 1, 3}}, false);
  ASSERT_EQ(result.orders.size(), 1u);
  EXPECT_EQ(result.orders[0].kind, OrderKind::kCancel);
  EXPECT_EQ(scheduler_.Complete("running", 1, "w", Outcome::kCancelled, Failure::kNone, "")->state,
            JobPhase::kCancelled);
  EXPECT_EQ(scheduler_.Cancel("running").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, CancelledJobWhoseWorkerDiesEndsCancelledNotRequeued) {
  scheduler_.AddQueuedJob(Job("j"));
  Cpu("w");
  ASSERT_EQ(AcquireIds("w").size(), 1u);
  ASSERT_TRUE(scheduler_.Cancel("j").ok());
  clock_.AdvanceMs(10'000);
  auto transitions = scheduler_.Tick();
  ASSERT_EQ(transitions.size(), 1u);
  EXPECT_EQ(transitions[0].state, JobPhase::kCancelled);
}

TEST_F(SchedulerTest, UnknownWorkerHeartbeatAsksToRegisterAgain) {
  EXPECT_FALSE(scheduler_.Heartbeat("ghost", {}, false).known);
}

TEST_F(SchedulerTest, RestoredAttemptReattachesByHeartbeatWithinGrace) {
  JobInit job = Job("j");
  job.attempt = 4;
  scheduler_.RestoreWorker("w", Machine("cpu", 0, 0, 1));
  scheduler_.RestoreRunningJob(job, "w");
  clock_.AdvanceMs(15'000);
  EXPECT_TRUE(scheduler_.Heartbeat("w", {{"j", 4, 100}}, false).orders.empty());
  clock_.AdvanceMs(9'000);  // past the grace, within the renewed lease
  EXPECT_TRUE(scheduler_.Tick().empty());
  EXPECT_TRUE(scheduler_.ValidateLease("j", 4, "w").ok());
}

TEST_F(SchedulerTest, RestoredAttemptNotReattachedIsRequeuedAfterGrace) {
  JobInit job = Job("j");
  job.attempt = 2;
  job.checkpoint_step = 50;
  scheduler_.RestoreWorker("w", Machine("cpu", 0, 0, 1));
  scheduler_.RestoreRunningJob(job, "w");
  clock_.AdvanceMs(19'999);
  EXPECT_TRUE(scheduler_.Tick().empty());
  clock_.AdvanceMs(1);
  auto transitions = scheduler_.Tick();
  ASSERT_EQ(transitions.size(), 1u);
  EXPECT_EQ(transitions[0].state, JobPhase::kQueued);
  EXPECT_EQ(transitions[0].attempt, 2);
  EXPECT_EQ(transitions[0].step, 50);
  EXPECT_NE(transitions[0].reason.find("grace"), std::string::npos);
}

TEST_F(SchedulerTest, SilentIdleWorkersAreForgotten) {
  Cpu("w");
  clock_.AdvanceMs(600'001);
  scheduler_.Tick();
  EXPECT_FALSE(scheduler_.HasWorker("w"));
}

TEST_F(SchedulerTest, RaisingAQueuedJobsPriorityMovesItToTheFrontOfTheQueue) {
  scheduler_.AddQueuedJob(Job("a"));
  scheduler_.AddQueuedJob(Job("b"));
  scheduler_.AddQueuedJob(Job("c"));
  ASSERT_TRUE(scheduler_.SetPriority("c", 5).ok());
  EXPECT_EQ(scheduler_.QueueOrder(10), (std::vector<std::string>{"c", "a", "b"}));
  Cpu("w", 3);
  EXPECT_EQ(AcquireIds("w"), (std::vector<std::string>{"c", "a", "b"}));
}

TEST_F(SchedulerTest, LoweringAPriorityPutsTheJobBehindOthersAndKeepsFifoAmongEquals) {
  scheduler_.AddQueuedJob(Job("a", 3));
  scheduler_.AddQueuedJob(Job("b", 3));
  scheduler_.AddQueuedJob(Job("c", 1));
  ASSERT_TRUE(scheduler_.SetPriority("a", 1).ok());
  // a and c share priority 1 now; a was queued first, so it stays ahead of c.
  EXPECT_EQ(scheduler_.QueueOrder(10), (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ(scheduler_.queued(), 3u);
}

TEST_F(SchedulerTest, PriorityOfARunningJobCannotChangeAndAnUnknownJobIsNotFound) {
  scheduler_.AddQueuedJob(Job("run"));
  Cpu("w");
  ASSERT_EQ(AcquireIds("w"), (std::vector<std::string>{"run"}));
  const absl::Status running = scheduler_.SetPriority("run", 9);
  EXPECT_EQ(running.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(running.message().find("running"), std::string::npos) << running;
  EXPECT_EQ(scheduler_.SetPriority("nope", 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(scheduler_.PhaseOf("run"), JobPhase::kRunning);
  EXPECT_EQ(scheduler_.PhaseOf("nope"), std::nullopt);
}

TEST_F(SchedulerTest, AFailedJobQueuedAgainGetsANewAttemptAndFencesTheOldOne) {
  JobInit init = Job("j");
  init.max_attempts = 1;
  scheduler_.AddQueuedJob(init);
  Cpu("w");
  ASSERT_EQ(AcquireIds("w").size(), 1u);
  auto failed = scheduler_.Complete("j", 1, "w", Outcome::kFailed, Failure::kJob, "boom");
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->state, JobPhase::kFailed);
  EXPECT_FALSE(scheduler_.HasJob("j"));
  // A retry: the stored row comes back with its attempt counter and a fresh failure budget.
  init.attempt = 1;
  scheduler_.AddQueuedJob(init);
  auto grants = scheduler_.Acquire("w", 0);
  ASSERT_TRUE(grants.ok());
  ASSERT_EQ(grants->size(), 1u);
  EXPECT_EQ(grants->front().attempt, 2);
  EXPECT_FALSE(scheduler_.ValidateLease("j", 1, "w").ok());
  EXPECT_TRUE(scheduler_.ValidateLease("j", 2, "w").ok());
}

// ---- Multi-node gangs ----

TEST_F(SchedulerTest, GangSpansWorkersAllOrNothingWithContiguousRankRanges) {
  Cpu("a", 2);
  Cpu("b", 1);
  Cpu("c", 1);
  scheduler_.AddQueuedJob(Ranked("dp4", "cpu", 4));
  // "a" asks: it takes ranks 0-1, then b and c (1 slot each) take 2 and 3 (b heard more
  // recently than c? all at t=0: by id).
  auto grants = scheduler_.Acquire("a", 0);
  ASSERT_TRUE(grants.ok());
  ASSERT_EQ(grants->size(), 1u);
  const Transition& lead = (*grants)[0];
  EXPECT_EQ(lead.kind, Transition::Kind::kGranted);
  EXPECT_EQ(lead.worker_id, "a");
  EXPECT_TRUE(lead.deliver);
  EXPECT_EQ(lead.first_rank, 0);
  EXPECT_EQ(lead.rank_count, 2);
  EXPECT_EQ(lead.world_size, 4);
  EXPECT_TRUE(scheduler_.HasUndeliveredLeases());
  for (const auto& [worker, rank] : {std::pair<std::string, int>{"b", 2}, {"c", 3}}) {
    auto member = scheduler_.Acquire(worker, 1);
    ASSERT_TRUE(member.ok());
    ASSERT_EQ(member->size(), 1u) << worker;
    EXPECT_EQ((*member)[0].kind, Transition::Kind::kMemberLease);
    EXPECT_EQ((*member)[0].attempt, 1);
    EXPECT_EQ((*member)[0].first_rank, rank);
    EXPECT_EQ((*member)[0].rank_count, 1);
    EXPECT_EQ((*member)[0].world_size, 4);
  }
  EXPECT_FALSE(scheduler_.HasUndeliveredLeases());
  EXPECT_EQ(scheduler_.HoldersOf("dp4", 1), (std::vector<std::string>{"a", "b", "c"}));
  // Every member is fenced by the same attempt; a worker outside the gang is not.
  EXPECT_TRUE(scheduler_.ValidateLease("dp4", 1, "c").ok());
  Cpu("d", 1);
  EXPECT_FALSE(scheduler_.ValidateLease("dp4", 1, "d").ok());
  // Members other than rank 0's give back their share when they end; rank 0's ends the job.
  auto member_done = scheduler_.Complete("dp4", 1, "b", Outcome::kSucceeded, Failure::kNone, "");
  ASSERT_TRUE(member_done.ok());
  EXPECT_EQ(member_done->kind, Transition::Kind::kMemberEnded);
  EXPECT_EQ(scheduler_.PhaseOf("dp4"), JobPhase::kRunning);
  auto done = scheduler_.Complete("dp4", 1, "a", Outcome::kSucceeded, Failure::kNone, "");
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, JobPhase::kSucceeded);
  for (const WorkerView& w : scheduler_.Workers()) {
    EXPECT_TRUE(w.running_job_ids.empty()) << w.id;
  }
}

TEST_F(SchedulerTest, GangWaitsWhenAllWorkersTogetherHaveTooLittleRoomNow) {
  Cpu("a", 1);
  Cpu("b", 1);
  scheduler_.AddQueuedJob(Job("busy", 0, "cpu", 0));
  ASSERT_EQ(AcquireIds("b"), (std::vector<std::string>{"busy"}));
  scheduler_.AddQueuedJob(Ranked("dp2", "cpu", 2));
  EXPECT_TRUE(AcquireIds("a").empty());  // one free slot in all: nothing is placed
  EXPECT_EQ(scheduler_.PhaseOf("dp2"), JobPhase::kQueued);
  for (const WorkerView& w : scheduler_.Workers()) {
    EXPECT_EQ(w.running_job_ids.size(), w.id == "b" ? 1u : 0u) << w.id;
  }
  ASSERT_TRUE(scheduler_.Complete("busy", 1, "b", Outcome::kSucceeded, Failure::kNone, "").ok());
  auto grants = scheduler_.Acquire("b", 0);
  ASSERT_TRUE(grants.ok());
  ASSERT_EQ(grants->size(), 1u);
  EXPECT_EQ((*grants)[0].worker_id, "b");
  EXPECT_EQ(AcquireIds("a"), (std::vector<std::string>{"dp2"}));
}

TEST_F(SchedulerTest, GangIsOnlyPlacedOnLiveWorkers) {
  Cpu("a", 1);
  Cpu("dead", 1);
  clock_.AdvanceMs(20'000);  // past the lease TTL: neither has been heard from
  Cpu("b", 1);               // registering counts as being heard from
  scheduler_.AddQueuedJob(Ranked("dp2", "cpu", 2));
  auto grants = scheduler_.Acquire("a", 0);  // a is heard from now
  ASSERT_TRUE(grants.ok());
  ASSERT_EQ(grants->size(), 1u);
  EXPECT_EQ(scheduler_.HoldersOf("dp2", 1), (std::vector<std::string>{"a", "b"}));
}

TEST_F(SchedulerTest, ReservationKeepsFreedSlotsForABlockedGangSoSmallJobsCannotStarveIt) {
  Cpu("a", 1);
  Cpu("b", 1);
  scheduler_.AddQueuedJob(Job("s0", 0, "cpu", 0));
  scheduler_.AddQueuedJob(Job("s1", 0, "cpu", 0));
  ASSERT_EQ(AcquireIds("a"), (std::vector<std::string>{"s0"}));
  ASSERT_EQ(AcquireIds("b"), (std::vector<std::string>{"s1"}));
  scheduler_.AddQueuedJob(Ranked("gang", "cpu", 2));
  for (int i = 0; i < 5; ++i) {
    scheduler_.AddQueuedJob(Job("small" + std::to_string(i), 0, "cpu", 0));
  }
  // a's slot is freed: without the reservation small0 would take it, and then b's would go to
  // small1, and so on for as long as small jobs arrive.
  ASSERT_TRUE(scheduler_.Complete("s0", 1, "a", Outcome::kSucceeded, Failure::kNone, "").ok());
  EXPECT_TRUE(AcquireIds("a").empty());
  EXPECT_EQ(scheduler_.ReservedJob(), "gang");
  ASSERT_TRUE(scheduler_.Complete("s1", 1, "b", Outcome::kSucceeded, Failure::kNone, "").ok());
  EXPECT_EQ(AcquireIds("b"), (std::vector<std::string>{"gang"}));
  EXPECT_EQ(AcquireIds("a"), (std::vector<std::string>{"gang"}));  // its member lease
  EXPECT_EQ(scheduler_.PhaseOf("small0"), JobPhase::kQueued);
}

TEST_F(SchedulerTest, SmallJobsStillUseRoomTheReservedGangDoesNotNeed) {
  Cpu("a", 2);
  Cpu("b", 2);
  scheduler_.AddQueuedJob(Job("s0", 0, "cpu", 0));
  scheduler_.AddQueuedJob(Job("s1", 0, "cpu", 0));
  scheduler_.AddQueuedJob(Job("s2", 0, "cpu", 0));
  ASSERT_EQ(AcquireIds("a", 2), (std::vector<std::string>{"s0", "s1"}));
  ASSERT_EQ(AcquireIds("b", 1), (std::vector<std::string>{"s2"}));
  scheduler_.AddQueuedJob(Ranked("gang", "cpu", 4));
  scheduler_.AddQueuedJob(Job("small", 0, "cpu", 0));
  // One slot is free (b's) and it is held for the 4-rank gang.
  EXPECT_TRUE(AcquireIds("b").empty());
  Cpu("c", 3);
  // c's 3 free slots plus b's 1 make 4: the gang is placed now, c first (it asked).
  auto grants = scheduler_.Acquire("c", 0);
  ASSERT_TRUE(grants.ok());
  ASSERT_FALSE(grants->empty());
  EXPECT_EQ((*grants)[0].job_id, "gang");
  EXPECT_EQ((*grants)[0].rank_count, 3);
  EXPECT_EQ(scheduler_.HoldersOf("gang", 1), (std::vector<std::string>{"c", "b"}));
  // Nothing is reserved any more, so the small job may run where there is room.
  ASSERT_TRUE(scheduler_.Complete("s0", 1, "a", Outcome::kSucceeded, Failure::kNone, "").ok());
  EXPECT_EQ(AcquireIds("a"), (std::vector<std::string>{"small"}));
}

TEST_F(SchedulerTest, OneMemberFailingEndsTheAttemptOnAllMembersCountedOnce) {
  Cpu("a", 1);
  Cpu("b", 1);
  Cpu("c", 1);
  JobInit job = Ranked("dp2", "cpu", 2);
  job.max_attempts = 5;
  scheduler_.AddQueuedJob(job);
  ASSERT_EQ(AcquireIds("a"), (std::vector<std::string>{"dp2"}));
  ASSERT_EQ(AcquireIds("b"), (std::vector<std::string>{"dp2"}));
  scheduler_.NoteCheckpoint("dp2", 40);
  auto ended = scheduler_.Complete("dp2", 1, "b", Outcome::kFailed, Failure::kInfra,
                                   "rank 1: peer closed the connection");
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(ended->kind, Transition::Kind::kAttemptEnded);
  EXPECT_EQ(ended->state, JobPhase::kQueued);
  EXPECT_EQ(ended->infra_failures, 1);
  EXPECT_EQ(ended->worker_id, "a");  // the attempt is rank 0's
  EXPECT_NE(ended->reason.find("gang member on worker b"), std::string::npos) << ended->reason;
  // Rank 0's worker is told to abandon; its late completion is fenced off, not a 2nd failure.
  HeartbeatResult hb = scheduler_.Heartbeat("a", {{"dp2", 1, 50}}, false);
  ASSERT_EQ(hb.orders.size(), 1u);
  EXPECT_EQ(hb.orders[0].kind, OrderKind::kAbandon);
  EXPECT_FALSE(scheduler_.Complete("dp2", 1, "a", Outcome::kFailed, Failure::kInfra, "x").ok());
  // The next attempt resumes from the checkpoint, on any two live workers.
  auto again = scheduler_.Acquire("c", 0);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].attempt, 2);
  EXPECT_EQ((*again)[0].step, 40);
}

TEST_F(SchedulerTest, SilentMemberExpiresTheWholeGangOnce) {
  Cpu("a", 1);
  Cpu("b", 1);
  scheduler_.AddQueuedJob(Ranked("dp2", "cpu", 2));
  ASSERT_EQ(AcquireIds("a"), (std::vector<std::string>{"dp2"}));
  ASSERT_EQ(AcquireIds("b"), (std::vector<std::string>{"dp2"}));
  clock_.AdvanceMs(6'000);
  scheduler_.Heartbeat("a", {{"dp2", 1, 5}}, false);  // rank 0's worker lives, b is silent
  clock_.AdvanceMs(6'000);
  std::vector<Transition> ts = scheduler_.Tick();
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].state, JobPhase::kQueued);
  EXPECT_EQ(ts[0].infra_failures, 1);
  EXPECT_NE(ts[0].reason.find("gang member worker b"), std::string::npos) << ts[0].reason;
  EXPECT_TRUE(scheduler_.Tick().empty());
  for (const WorkerView& w : scheduler_.Workers()) {
    EXPECT_TRUE(w.running_job_ids.empty()) << w.id;
  }
}

TEST_F(SchedulerTest, MemberLeaseNeverTakenExpiresTheGang) {
  Cpu("a", 1);
  Cpu("b", 1);
  scheduler_.AddQueuedJob(Ranked("dp2", "cpu", 2));
  ASSERT_EQ(AcquireIds("a"), (std::vector<std::string>{"dp2"}));
  clock_.AdvanceMs(10'000);
  scheduler_.Heartbeat("a", {{"dp2", 1, 5}}, false);
  std::vector<Transition> ts = scheduler_.Tick();
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_NE(ts[0].reason.find("did not take its lease"), std::string::npos) << ts[0].reason;
}

TEST_F(SchedulerTest, GpuGangSpansCudaWorkersOnly) {
  scheduler_.RegisterWorker("g1", Machine("cuda", 2, 0, 1));
  scheduler_.RegisterWorker("g2", Machine("cuda", 2, 0, 1));
  Cpu("c", 8);
  scheduler_.AddQueuedJob(Ranked("gpu4", "cuda", 4));
  // A cpu worker's request may place it, but not on itself: the attempt is recorded with rank
  // 0's worker and both cuda workers get their leases when they ask.
  auto grants = scheduler_.Acquire("c", 0);
  ASSERT_TRUE(grants.ok());
  ASSERT_EQ(grants->size(), 1u);
  EXPECT_EQ((*grants)[0].kind, Transition::Kind::kGranted);
  EXPECT_EQ((*grants)[0].worker_id, "g1");
  EXPECT_FALSE((*grants)[0].deliver);
  EXPECT_EQ(scheduler_.HoldersOf("gpu4", 1), (std::vector<std::string>{"g1", "g2"}));
  auto lead = scheduler_.Acquire("g1", 0);
  ASSERT_TRUE(lead.ok());
  ASSERT_EQ(lead->size(), 1u);
  EXPECT_EQ((*lead)[0].kind, Transition::Kind::kMemberLease);
  EXPECT_EQ((*lead)[0].first_rank, 0);
  EXPECT_EQ((*lead)[0].rank_count, 2);
  scheduler_.AddQueuedJob(Job("one", 0, "cuda", 1));
  auto member = scheduler_.Acquire("g2", 0);
  ASSERT_TRUE(member.ok());
  ASSERT_EQ(member->size(), 1u);  // its member lease; no room left for "one"
  EXPECT_EQ((*member)[0].first_rank, 2);
  EXPECT_EQ(scheduler_.PhaseOf("one"), JobPhase::kQueued);
}

}  // namespace
}  // namespace sparsescale::scheduler

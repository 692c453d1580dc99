// The job process: `sparsescale-worker run-job ...` trains one JobSpec with RunTraining and
// writes every event to stdout as one JSON line (job_events.h) for the worker daemon, which
// started it. SIGTERM asks it to stop with a checkpoint ("stopped"); SIGINT is ignored (a
// terminal's Ctrl-C reaches the daemon, which drains in order). Each checkpoint is hard-linked
// into upload_dir before it is announced, so the trainer can delete old checkpoints while the
// daemon still uploads them; a checkpoint is announced only after the loss point of its step.
// A job of several data-parallel ranks makes this process rank 0, which starts the others
// (rank_launcher.h); how they meet is described at RunJobOptions::coordinator.
#pragma once

#include <string>

#include "worker/agent/coordinator_rendezvous.h"

namespace sparsescale::agent {

struct RunJobOptions {
  std::string spec_path;    // JSON JobSpec
  std::string out_dir;      // the trainer's checkpoint directory
  std::string upload_dir;   // where checkpoints are linked for the daemon to upload
  std::string resume_from;  // checkpoint to resume from, or empty
  std::string dataset_dir;  // the files of the spec's data.dataset (the worker's cache), or empty
  std::string device = "auto";
  int threads = 0;
  // Under the worker daemon: the coordinator that carries a multi-rank job's rendezvous. Every
  // rank then exchanges rank 0's address through WorkerService.Rendezvous and no file is used;
  // when disabled (standalone), rank 0 writes a rendezvous file for its children.
  CoordinatorRendezvousFlags coordinator;
  // The IPv4 address every rank's TCP ring binds and publishes (the daemon's
  // --advertise-address); empty: 127.0.0.1 (all ranks on this machine).
  std::string advertise_address;
  // A member of a multi-node gang (its lease's rank and rank_count): this process is rank
  // first_rank and starts ranks first_rank+1 .. first_rank+rank_count-1; the other members run
  // the rest on their workers, and all meet through the coordinator (required). rank_count 0:
  // all of the spec's ranks on this machine, this process rank 0.
  int first_rank = 0;
  int rank_count = 0;
};

// Runs the job. Returns the process exit code: 0 when done or stopped on request, 1 when
// training failed (an "error" event says why), 2 for an unreadable spec.
int RunJob(const RunJobOptions& options);

}  // namespace sparsescale::agent

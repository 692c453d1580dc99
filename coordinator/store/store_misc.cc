// Store: workers, sweeps, the idempotency ledger and law fits.
#include "common/status.h"
#include "coordinator/store/store.h"

namespace sparsescale::store {
namespace {

SweepRow ReadSweepRow(const Query& q, int first) {
  SweepRow sweep;
  sweep.id = q.Text(first);
  sweep.name = q.Text(first + 1);
  sweep.base = q.BlobBytes(first + 2);
  sweep.axes = q.BlobBytes(first + 3);
  sweep.priority = static_cast<int>(q.Int(first + 4));
  sweep.max_attempts = static_cast<int>(q.Int(first + 5));
  sweep.created_unix_ms = q.Int(first + 6);
  sweep.checkpoint_keep_last = static_cast<int>(q.Int(first + 7));
  return sweep;
}

}  // namespace

absl::Status Store::UpsertWorker(const WorkerRow& w) {
  ASSIGN_OR_RETURN(
      Query q,
      db_->Prepare("INSERT INTO workers (id, name, device_kind, gpus, memory_bytes, slots, "
                   "version, draining, registered_unix_ms, last_heartbeat_unix_ms) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO UPDATE "
                   "SET name = ?2, device_kind = ?3, gpus = ?4, memory_bytes = ?5, slots = ?6, "
                   "version = ?7, draining = ?8, last_heartbeat_unix_ms = ?10"));
  q.Bind(1, w.id).Bind(2, w.name).Bind(3, w.device_kind).Bind(4, w.gpus);
  q.Bind(5, w.memory_bytes).Bind(6, w.slots).Bind(7, w.version).Bind(8, w.draining ? 1 : 0);
  return q.Bind(9, w.registered_unix_ms).Bind(10, w.last_heartbeat_unix_ms).Run();
}

absl::Status Store::TouchWorker(std::string_view worker_id, bool draining, int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("UPDATE workers SET draining = ?, "
                                         "last_heartbeat_unix_ms = ? WHERE id = ?"));
  return q.Bind(1, draining ? 1 : 0).Bind(2, now_unix_ms).Bind(3, worker_id).Run();
}

absl::StatusOr<std::vector<WorkerRow>> Store::LoadWorkers() {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT id, name, device_kind, gpus, memory_bytes, "
                                         "slots, version, draining, registered_unix_ms, "
                                         "last_heartbeat_unix_ms FROM workers ORDER BY id"));
  std::vector<WorkerRow> workers;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return workers;
    }
    WorkerRow& w = workers.emplace_back();
    w.id = q.Text(0);
    w.name = q.Text(1);
    w.device_kind = q.Text(2);
    w.gpus = static_cast<int>(q.Int(3));
    w.memory_bytes = q.Int(4);
    w.slots = static_cast<int>(q.Int(5));
    w.version = q.Text(6);
    w.draining = q.Int(7) != 0;
    w.registered_unix_ms = q.Int(8);
    w.last_heartbeat_unix_ms = q.Int(9);
  }
}

absl::StatusOr<bool> Store::InsertSweepIfAbsent(const SweepRow& s) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("INSERT INTO sweeps (id, name, base, axes, priority, "
                                         "max_attempts, created_unix_ms, checkpoint_keep_last) "
                                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                                         "ON CONFLICT (id) DO NOTHING"));
  q.Bind(1, s.id).Bind(2, s.name).Bind(3, Blob{s.base}).Bind(4, Blob{s.axes});
  q.Bind(5, s.priority).Bind(6, s.max_attempts).Bind(7, s.created_unix_ms);
  RETURN_IF_ERROR(q.Bind(8, s.checkpoint_keep_last).Run());
  return db_->Changes() > 0;
}

absl::Status Store::AddSweepJob(std::string_view sweep_id, int64_t job_seq) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("INSERT OR IGNORE INTO sweep_jobs (sweep_id, job_seq) "
                                         "VALUES (?, ?)"));
  return q.Bind(1, sweep_id).Bind(2, job_seq).Run();
}

absl::StatusOr<std::optional<SweepRow>> Store::FindSweep(std::string_view id) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT id, name, base, axes, priority, max_attempts, "
                                         "created_unix_ms, checkpoint_keep_last FROM sweeps "
                                         "WHERE id = ?"));
  q.Bind(1, id);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  if (!row) {
    return std::nullopt;
  }
  return ReadSweepRow(q, 0);
}

absl::StatusOr<std::vector<std::pair<int64_t, SweepRow>>> Store::ListSweeps(int64_t after_rowid,
                                                                            int limit) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT rowid, id, name, base, axes, priority, "
                                         "max_attempts, created_unix_ms, checkpoint_keep_last "
                                         "FROM sweeps WHERE rowid > ? ORDER BY rowid LIMIT ?"));
  q.Bind(1, after_rowid).Bind(2, limit);
  std::vector<std::pair<int64_t, SweepRow>> sweeps;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return sweeps;
    }
    sweeps.emplace_back(q.Int(0), ReadSweepRow(q, 1));
  }
}

absl::StatusOr<std::vector<std::string>> Store::SweepJobIds(std::string_view sweep_id) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT j.id FROM sweep_jobs s JOIN jobs j "
                                         "ON j.seq = s.job_seq WHERE s.sweep_id = ? "
                                         "ORDER BY j.seq"));
  q.Bind(1, sweep_id);
  std::vector<std::string> ids;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return ids;
    }
    ids.push_back(q.Text(0));
  }
}

absl::StatusOr<std::optional<StoredResponse>> Store::FindRequest(std::string_view request_id) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT fingerprint, response FROM requests "
                                         "WHERE request_id = ?"));
  q.Bind(1, request_id);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  if (!row) {
    return std::nullopt;
  }
  return StoredResponse{.fingerprint = q.Text(0), .response = q.BlobBytes(1)};
}

absl::Status Store::InsertRequest(std::string_view request_id, std::string_view fingerprint,
                                  std::string_view response, int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("INSERT INTO requests (request_id, fingerprint, "
                                         "response, created_unix_ms) VALUES (?, ?, ?, ?)"));
  return q.Bind(1, request_id)
      .Bind(2, fingerprint)
      .Bind(3, Blob{response})
      .Bind(4, now_unix_ms)
      .Run();
}

absl::Status Store::InsertFit(const FitRow& fit) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("INSERT INTO fits (id, sweep_id, options, result, "
                                         "created_unix_ms) VALUES (?, ?, ?, ?, ?) "
                                         "ON CONFLICT (id) DO NOTHING"));
  q.Bind(1, fit.id).Bind(2, fit.sweep_id).Bind(3, Blob{fit.options}).Bind(4, Blob{fit.result});
  RETURN_IF_ERROR(q.Bind(5, fit.created_unix_ms).Run());
  for (const FitInputRow& in : fit.inputs) {
    ASSIGN_OR_RETURN(Query row, db_->Prepare("INSERT INTO fit_inputs (fit_id, job_id, "
                                             "config_hash, sparsity, nonzeros, tokens, loss) "
                                             "VALUES (?, ?, ?, ?, ?, ?, ?) "
                                             "ON CONFLICT (fit_id, job_id) DO NOTHING"));
    row.Bind(1, fit.id).Bind(2, in.job_id).Bind(3, in.config_hash).Bind(4, in.sparsity);
    RETURN_IF_ERROR(row.Bind(5, in.nonzeros).Bind(6, in.tokens).Bind(7, in.loss).Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<FitRow>> Store::FindFit(std::string_view id) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT id, sweep_id, options, result, created_unix_ms "
                                         "FROM fits WHERE id = ?"));
  q.Bind(1, id);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  if (!row) {
    return std::nullopt;
  }
  FitRow fit{.id = q.Text(0),
             .sweep_id = q.Text(1),
             .options = q.BlobBytes(2),
             .result = q.BlobBytes(3),
             .created_unix_ms = q.Int(4),
             .inputs = {}};
  ASSIGN_OR_RETURN(Query in, db_->Prepare("SELECT job_id, config_hash, sparsity, nonzeros, "
                                          "tokens, loss FROM fit_inputs WHERE fit_id = ? "
                                          "ORDER BY job_id"));
  in.Bind(1, id);
  while (true) {
    ASSIGN_OR_RETURN(const bool more, in.Step());
    if (!more) {
      return fit;
    }
    fit.inputs.push_back(
        {in.Text(0), in.Text(1), in.Double(2), in.Double(3), in.Double(4), in.Double(5)});
  }
}

}  // namespace sparsescale::store

// Store: datasets, content-addressed chunks and the jobs that use them.
#include "coordinator/store/store_datasets.h"

#include <set>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/sha256.h"
#include "common/status.h"

namespace sparsescale::store {
namespace {

constexpr const char* kDatasetColumns =
    "d.id, d.name, d.hash, d.state, d.total_bytes, d.file_count, d.created_unix_ms, "
    "(SELECT COUNT(*) FROM dataset_chunk_refs r WHERE r.dataset_id = d.id)";

DatasetRow ReadDatasetRow(const Query& q) {
  DatasetRow row;
  row.id = q.Int(0);
  row.name = q.Text(1);
  row.hash = q.Text(2);
  row.state = static_cast<DatasetState>(q.Int(3));
  row.total_bytes = q.Int(4);
  row.file_count = static_cast<int>(q.Int(5));
  row.created_unix_ms = q.Int(6);
  row.chunks_stored = q.Int(7);
  return row;
}

absl::StatusOr<std::vector<DatasetRow>> Collect(Query& q) {
  std::vector<DatasetRow> rows;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return rows;
    }
    rows.push_back(ReadDatasetRow(q));
  }
}

absl::StatusOr<std::vector<DatasetFileRow>> LoadFiles(Store& store, int64_t dataset_id) {
  ASSIGN_OR_RETURN(Query q, store.db()->Prepare("SELECT name, size_bytes, sha256, chunks FROM "
                                                "dataset_files WHERE dataset_id = ? ORDER BY idx"));
  q.Bind(1, dataset_id);
  std::vector<DatasetFileRow> files;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return files;
    }
    DatasetFileRow file{.name = q.Text(0), .size_bytes = q.Int(1), .sha256 = q.Text(2),
                        .chunks = {}};
    const std::string chunks = q.Text(3);
    if (!chunks.empty()) {
      file.chunks = absl::StrSplit(chunks, ',');
    }
    files.push_back(std::move(file));
  }
}

absl::StatusOr<std::optional<DatasetRow>> FindByName(Store& store, const std::string& name) {
  ASSIGN_OR_RETURN(Query q, store.db()->Prepare(absl::StrCat(
                                "SELECT ", kDatasetColumns, " FROM datasets d WHERE d.name = ?")));
  q.Bind(1, name);
  ASSIGN_OR_RETURN(std::vector<DatasetRow> rows, Collect(q));
  if (rows.empty()) {
    return std::nullopt;
  }
  return std::move(rows.front());
}

absl::StatusOr<std::vector<DatasetRow>> FindByHash(Store& store, const std::string& hash) {
  ASSIGN_OR_RETURN(Query q, store.db()->Prepare(absl::StrCat(
                                "SELECT ", kDatasetColumns,
                                " FROM datasets d WHERE d.hash = ? AND d.state = 2 ORDER BY d.id")));
  q.Bind(1, hash);
  return Collect(q);
}

// Deletes the chunks in `candidates` that no dataset refers to; adds to the counts.
absl::Status DropUnreferenced(Store& store, const std::set<std::string>& candidates,
                              int64_t* chunks_deleted, int64_t* bytes_freed) {
  ASSIGN_OR_RETURN(Query size, store.db()->Prepare(
                                   "SELECT size_bytes FROM dataset_chunks WHERE sha256 = ?1 AND "
                                   "NOT EXISTS (SELECT 1 FROM dataset_chunk_refs WHERE chunk = ?1)"));
  ASSIGN_OR_RETURN(Query drop, store.db()->Prepare("DELETE FROM dataset_chunks WHERE sha256 = ?"));
  for (const std::string& chunk : candidates) {
    size.Reset();
    size.Bind(1, chunk);
    ASSIGN_OR_RETURN(const bool orphan, size.Step());
    if (!orphan) {
      continue;
    }
    const int64_t bytes = size.Int(0);
    drop.Reset();
    RETURN_IF_ERROR(drop.Bind(1, chunk).Run());
    ++*chunks_deleted;
    *bytes_freed += bytes;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::set<std::string>> ReferencedChunks(Store& store, int64_t dataset_id) {
  ASSIGN_OR_RETURN(Query q,
                   store.db()->Prepare("SELECT chunk FROM dataset_chunk_refs WHERE dataset_id = ?"));
  q.Bind(1, dataset_id);
  std::set<std::string> chunks;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return chunks;
    }
    chunks.insert(q.Text(0));
  }
}

bool SameFiles(const std::vector<DatasetFileRow>& a, const std::vector<DatasetFileRow>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].size_bytes != b[i].size_bytes ||
        a[i].sha256 != b[i].sha256 || a[i].chunks != b[i].chunks) {
      return false;
    }
  }
  return true;
}

}  // namespace


std::string DatasetHash(const std::vector<DatasetFileRow>& files) {
  Sha256 sha;
  for (const DatasetFileRow& file : files) {
    sha.Update(file.name);
    sha.Update("\n");
    sha.Update(file.sha256);
    sha.Update("\n");
  }
  return Sha256::ToHex(sha.Finish());
}

absl::StatusOr<std::vector<std::string>> MissingChunks(Store& store,
                                                       const std::vector<std::string>& chunks) {
  ASSIGN_OR_RETURN(Query q, store.db()->Prepare("SELECT 1 FROM dataset_chunks WHERE sha256 = ?"));
  std::vector<std::string> missing;
  std::unordered_set<std::string> seen;
  for (const std::string& chunk : chunks) {
    if (!seen.insert(chunk).second) {
      continue;
    }
    q.Reset();
    q.Bind(1, chunk);
    ASSIGN_OR_RETURN(const bool found, q.Step());
    if (!found) {
      missing.push_back(chunk);
    }
  }
  return missing;
}

absl::StatusOr<bool> PutDatasetChunk(Store& store, const std::string& name, const std::string& sha256,
                                     std::string_view data, int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(std::optional<DatasetRow> dataset, FindByName(store, name));
  if (dataset && dataset->state == DatasetState::kReady) {
    return absl::AlreadyExistsError(absl::StrCat(
        "dataset: a ready dataset named ", name, " exists (hash ", dataset->hash,
        "); delete it first or upload under another name"));
  }
  if (!dataset) {
    ASSIGN_OR_RETURN(Query insert, store.db()->Prepare("INSERT INTO datasets (name, state, "
                                                       "created_unix_ms) VALUES (?, 1, ?)"));
    RETURN_IF_ERROR(insert.Bind(1, name).Bind(2, now_unix_ms).Run());
    dataset = DatasetRow{};
    dataset->id = store.db()->LastInsertRowid();
  }
  ASSIGN_OR_RETURN(Query put, store.db()->Prepare("INSERT INTO dataset_chunks (sha256, size_bytes, "
                                                  "data) VALUES (?, ?, ?) "
                                                  "ON CONFLICT (sha256) DO NOTHING"));
  put.Bind(1, sha256).Bind(2, static_cast<int64_t>(data.size()));
  RETURN_IF_ERROR(put.Bind(3, Blob{data, /*copy=*/false}).Run());
  const bool stored = store.db()->Changes() > 0;
  ASSIGN_OR_RETURN(Query ref, store.db()->Prepare("INSERT INTO dataset_chunk_refs (dataset_id, "
                                                  "chunk) VALUES (?, ?) ON CONFLICT DO NOTHING"));
  RETURN_IF_ERROR(ref.Bind(1, dataset->id).Bind(2, sha256).Run());
  return stored;
}

absl::Status VerifyDatasetFiles(Store& store, const std::vector<DatasetFileRow>& files) {
  ASSIGN_OR_RETURN(Query q,
                   store.db()->Prepare("SELECT data FROM dataset_chunks WHERE sha256 = ?"));
  for (size_t i = 0; i < files.size(); ++i) {
    const DatasetFileRow& file = files[i];
    Sha256 sha;
    int64_t bytes = 0;
    for (size_t j = 0; j < file.chunks.size(); ++j) {
      q.Reset();
      q.Bind(1, file.chunks[j]);
      ASSIGN_OR_RETURN(const bool found, q.Step());
      if (!found) {
        return absl::InvalidArgumentError(absl::StrCat("files[", i, "].chunks[", j, "]: chunk ",
                                                       file.chunks[j], " is not stored (put it "
                                                       "first)"));
      }
      const std::string_view data = q.BlobView(0);
      bytes += static_cast<int64_t>(data.size());
      sha.Update(data);
    }
    if (bytes != file.size_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("files[", i, "].size_bytes: ", file.name, " is ", file.size_bytes,
                       " bytes but its chunks hold ", bytes));
    }
    const std::string digest = Sha256::ToHex(sha.Finish());
    if (digest != file.sha256) {
      return absl::InvalidArgumentError(absl::StrCat("files[", i, "].sha256: ", file.name,
                                                     " has sha256 ", file.sha256,
                                                     " but its chunks hash to ", digest));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CommitOutcome> CommitDatasetFiles(Store& store, const std::string& name,
                                                 const std::vector<DatasetFileRow>& files,
                                                 int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(std::optional<DatasetRow> dataset, FindByName(store, name));
  const std::string hash = DatasetHash(files);
  if (dataset && dataset->state == DatasetState::kReady) {
    ASSIGN_OR_RETURN(dataset->files, LoadFiles(store, dataset->id));
    if (dataset->hash == hash && SameFiles(dataset->files, files)) {
      return CommitOutcome{.dataset = *std::move(dataset), .created = false};
    }
    return absl::AlreadyExistsError(absl::StrCat("name: a ready dataset named ", name,
                                                 " holds other files (hash ", dataset->hash,
                                                 "); delete it first or choose another name"));
  }
  ASSIGN_OR_RETURN(Query exists, store.db()->Prepare("SELECT size_bytes FROM dataset_chunks "
                                                     "WHERE sha256 = ?"));
  int64_t total = 0;
  std::set<std::string> used;
  for (size_t i = 0; i < files.size(); ++i) {
    int64_t bytes = 0;
    for (size_t j = 0; j < files[i].chunks.size(); ++j) {
      exists.Reset();
      exists.Bind(1, files[i].chunks[j]);
      ASSIGN_OR_RETURN(const bool found, exists.Step());
      if (!found) {
        return absl::InvalidArgumentError(absl::StrCat("files[", i, "].chunks[", j, "]: chunk ",
                                                       files[i].chunks[j], " is not stored"));
      }
      bytes += exists.Int(0);
      used.insert(files[i].chunks[j]);
    }
    if (bytes != files[i].size_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("files[", i, "].size_bytes: ", files[i].name, " is ", files[i].size_bytes,
                       " bytes but its chunks hold ", bytes));
    }
    total += bytes;
  }
  int64_t id = 0;
  std::set<std::string> previous;
  if (dataset) {
    id = dataset->id;
    ASSIGN_OR_RETURN(previous, ReferencedChunks(store, id));
    ASSIGN_OR_RETURN(Query clear,
                     store.db()->Prepare("DELETE FROM dataset_chunk_refs WHERE dataset_id = ?"));
    RETURN_IF_ERROR(clear.Bind(1, id).Run());
    ASSIGN_OR_RETURN(Query clear_files,
                     store.db()->Prepare("DELETE FROM dataset_files WHERE dataset_id = ?"));
    RETURN_IF_ERROR(clear_files.Bind(1, id).Run());
    ASSIGN_OR_RETURN(Query ready, store.db()->Prepare(
                                      "UPDATE datasets SET state = 2, hash = ?, total_bytes = ?, "
                                      "file_count = ?, created_unix_ms = ? WHERE id = ?"));
    ready.Bind(1, hash).Bind(2, total).Bind(3, static_cast<int64_t>(files.size()));
    RETURN_IF_ERROR(ready.Bind(4, now_unix_ms).Bind(5, id).Run());
  } else {
    ASSIGN_OR_RETURN(Query insert, store.db()->Prepare(
                                       "INSERT INTO datasets (name, hash, state, total_bytes, "
                                       "file_count, created_unix_ms) VALUES (?, ?, 2, ?, ?, ?)"));
    insert.Bind(1, name).Bind(2, hash).Bind(3, total);
    RETURN_IF_ERROR(insert.Bind(4, static_cast<int64_t>(files.size())).Bind(5, now_unix_ms).Run());
    id = store.db()->LastInsertRowid();
  }
  ASSIGN_OR_RETURN(Query file, store.db()->Prepare(
                                   "INSERT INTO dataset_files (dataset_id, idx, name, size_bytes, "
                                   "sha256, chunks) VALUES (?, ?, ?, ?, ?, ?)"));
  for (size_t i = 0; i < files.size(); ++i) {
    file.Reset();
    file.Bind(1, id).Bind(2, static_cast<int64_t>(i)).Bind(3, files[i].name);
    file.Bind(4, files[i].size_bytes).Bind(5, files[i].sha256);
    RETURN_IF_ERROR(file.Bind(6, absl::StrJoin(files[i].chunks, ",")).Run());
  }
  ASSIGN_OR_RETURN(Query ref, store.db()->Prepare("INSERT INTO dataset_chunk_refs (dataset_id, "
                                                  "chunk) VALUES (?, ?)"));
  for (const std::string& chunk : used) {
    ref.Reset();
    RETURN_IF_ERROR(ref.Bind(1, id).Bind(2, chunk).Run());
  }
  int64_t dropped = 0;
  int64_t freed = 0;
  RETURN_IF_ERROR(DropUnreferenced(store, previous, &dropped, &freed));
  ASSIGN_OR_RETURN(std::optional<DatasetRow> stored, FindByName(store, name));
  if (!stored) {
    return absl::InternalError(absl::StrCat("dataset ", name, " vanished while committing"));
  }
  stored->files = files;
  return CommitOutcome{.dataset = *std::move(stored), .created = true};
}

absl::StatusOr<std::vector<DatasetRow>> ListDatasets(Store& store) {
  ASSIGN_OR_RETURN(Query q, store.db()->Prepare(absl::StrCat(
                                "SELECT ", kDatasetColumns, " FROM datasets d ORDER BY d.name")));
  return Collect(q);
}

absl::StatusOr<std::optional<DatasetRow>> FindDataset(Store& store, const std::string& name_or_hash,
                                                      bool with_files) {
  std::optional<DatasetRow> found;
  if (IsSha256Hex(name_or_hash)) {
    ASSIGN_OR_RETURN(std::vector<DatasetRow> rows, FindByHash(store, name_or_hash));
    if (!rows.empty()) {
      found = std::move(rows.front());
    }
  } else {
    ASSIGN_OR_RETURN(found, FindByName(store, name_or_hash));
  }
  if (found && with_files) {
    ASSIGN_OR_RETURN(found->files, LoadFiles(store, found->id));
  }
  return found;
}

absl::StatusOr<DeleteOutcome> DeleteDataset(Store& store, const std::string& name_or_hash) {
  DatasetRow dataset;
  if (IsSha256Hex(name_or_hash)) {
    ASSIGN_OR_RETURN(std::vector<DatasetRow> rows, FindByHash(store, name_or_hash));
    if (rows.size() > 1) {
      std::vector<std::string> names;
      for (const DatasetRow& row : rows) {
        names.push_back(row.name);
      }
      return absl::InvalidArgumentError(absl::StrCat("dataset: hash ", name_or_hash, " names ",
                                                     rows.size(), " datasets (",
                                                     absl::StrJoin(names, ", "),
                                                     "); delete one by name"));
    }
    if (rows.empty()) {
      return absl::NotFoundError(absl::StrCat("dataset: no dataset with hash ", name_or_hash));
    }
    dataset = std::move(rows.front());
  } else {
    ASSIGN_OR_RETURN(std::optional<DatasetRow> row, FindByName(store, name_or_hash));
    if (!row) {
      return absl::NotFoundError(absl::StrCat("dataset: no dataset named ", name_or_hash));
    }
    dataset = *std::move(row);
  }
  if (dataset.state == DatasetState::kReady) {
    ASSIGN_OR_RETURN(std::vector<DatasetRow> same, FindByHash(store, dataset.hash));
    if (same.size() <= 1) {
      ASSIGN_OR_RETURN(Query users, store.db()->Prepare(
                                        "SELECT id, state FROM jobs WHERE dataset = ? AND "
                                        "state IN (1, 2) ORDER BY seq LIMIT 11"));
      users.Bind(1, dataset.hash);
      std::vector<std::string> jobs;
      while (true) {
        ASSIGN_OR_RETURN(const bool row, users.Step());
        if (!row) {
          break;
        }
        jobs.push_back(absl::StrCat(
            users.Text(0), " (", StateWord(static_cast<JobState>(users.Int(1))), ")"));
      }
      if (!jobs.empty()) {
        if (jobs.size() > 10) {
          jobs.back() = "...";
        }
        return absl::FailedPreconditionError(absl::StrCat(
            "dataset: ", dataset.name, " is used by queued or running jobs: ",
            absl::StrJoin(jobs, ", "), "; cancel them (or let them finish) first"));
      }
    }
  }
  ASSIGN_OR_RETURN(std::set<std::string> chunks, ReferencedChunks(store, dataset.id));
  for (const char* sql : {"DELETE FROM dataset_chunk_refs WHERE dataset_id = ?",
                          "DELETE FROM dataset_files WHERE dataset_id = ?",
                          "DELETE FROM datasets WHERE id = ?"}) {
    ASSIGN_OR_RETURN(Query q, store.db()->Prepare(sql));
    RETURN_IF_ERROR(q.Bind(1, dataset.id).Run());
  }
  DeleteOutcome outcome;
  outcome.dataset = std::move(dataset);
  RETURN_IF_ERROR(DropUnreferenced(store, chunks, &outcome.chunks_deleted, &outcome.bytes_freed));
  return outcome;
}

absl::StatusOr<std::optional<std::string>> ReadDatasetChunk(Store& store,
                                                            const std::string& sha256) {
  ASSIGN_OR_RETURN(Query q,
                   store.db()->Prepare("SELECT data FROM dataset_chunks WHERE sha256 = ?"));
  q.Bind(1, sha256);
  ASSIGN_OR_RETURN(const bool found, q.Step());
  if (!found) {
    return std::nullopt;
  }
  return q.BlobBytes(0);
}

absl::StatusOr<bool> ReadDatasetChunkInto(Store& store, const std::string& sha256,
                                          std::string* out) {
  ASSIGN_OR_RETURN(Query q,
                   store.db()->Prepare("SELECT data FROM dataset_chunks WHERE sha256 = ?"));
  q.Bind(1, sha256);
  ASSIGN_OR_RETURN(const bool found, q.Step());
  if (!found) {
    out->clear();
    return false;
  }
  const std::string_view data = q.BlobView(0);
  out->assign(data.data(), data.size());
  return true;
}

absl::StatusOr<bool> DatasetHasChunk(Store& store, const std::string& hash, const std::string& chunk) {
  ASSIGN_OR_RETURN(Query q, store.db()->Prepare(
                                "SELECT 1 FROM dataset_chunk_refs r JOIN datasets d ON "
                                "d.id = r.dataset_id WHERE d.hash = ? AND d.state = 2 AND "
                                "r.chunk = ? LIMIT 1"));
  q.Bind(1, hash).Bind(2, chunk);
  return q.Step();
}

absl::Status RecordJobDataset(Store& store, int64_t job_seq, const std::string& spec_bytes) {
  v1::JobSpec spec;
  if (!spec.ParseFromString(spec_bytes) || spec.data().dataset().empty()) {
    return absl::OkStatus();
  }
  const std::string& hash = spec.data().dataset();
  ASSIGN_OR_RETURN(std::vector<DatasetRow> rows, FindByHash(store, hash));
  if (rows.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data.dataset: dataset ", hash, " does not exist (deleted after the submission?)"));
  }
  ASSIGN_OR_RETURN(Query q, store.db()->Prepare("UPDATE jobs SET dataset = ? WHERE seq = ?"));
  return q.Bind(1, hash).Bind(2, job_seq).Run();
}

absl::Status RequireJobDataset(Store& store, int64_t job_seq, const std::string& job_id) {
  ASSIGN_OR_RETURN(Query q, store.db()->Prepare("SELECT dataset FROM jobs WHERE seq = ?"));
  q.Bind(1, job_seq);
  ASSIGN_OR_RETURN(const bool found, q.Step());
  if (!found || q.Text(0).empty()) {
    return absl::OkStatus();
  }
  const std::string hash = q.Text(0);
  ASSIGN_OR_RETURN(std::vector<DatasetRow> rows, FindByHash(store, hash));
  if (rows.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data.dataset: job ", job_id, " reads dataset ", hash,
        ", which was deleted; upload it again (same bytes, same hash) before retrying"));
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::store

#include "coordinator/store/sqlite.h"

#include <sqlite3.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sparsescale::store {

void Db::StmtDeleter::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

absl::Status Db::Error(int rc, std::string_view what) const {
  const std::string message = absl::StrCat(std::string(what), " on ", path_, ": ",
                                           handle_ ? sqlite3_errmsg(handle_) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(message);
    case SQLITE_CONSTRAINT:
      return absl::AlreadyExistsError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<std::unique_ptr<Db>> Db::Open(const std::string& path, const DbOptions& options) {
  // Memory statistics take a global mutex on every allocation; the coordinator never reads
  // them. Only possible before SQLite initialises, so a later call changes nothing.
  static std::once_flag configured;
  std::call_once(configured, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  std::unique_ptr<Db> db(new Db(path));
  const int flags =
      SQLITE_OPEN_NOMUTEX |
      (options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  const int rc = sqlite3_open_v2(path.c_str(), &db->handle_, flags, nullptr);
  if (rc != SQLITE_OK) {
    return db->Error(rc, "opening database");
  }
  sqlite3_busy_timeout(db->handle_, options.busy_timeout_ms);
  sqlite3_extended_result_codes(db->handle_, 1);
  // Statement and savepoint journals (every group-commit operation runs in a savepoint) spill to
  // a temporary file past 64 KiB: keep them in memory instead.
  std::string pragmas = absl::StrCat("PRAGMA cache_size = -", options.cache_size_kib,
                                     "; PRAGMA temp_store = MEMORY;");
  if (options.mmap_size_bytes > 0) {
    absl::StrAppend(&pragmas, "PRAGMA mmap_size = ", options.mmap_size_bytes, ";");
  }
  if (!options.read_only) {
    // page_size must come before WAL mode, which fixes the page size of a new file.
    absl::StrAppend(&pragmas, "PRAGMA page_size = ", options.page_size_bytes,
                    "; PRAGMA journal_mode = WAL; PRAGMA synchronous = ",
                    options.sync == SyncMode::kFull ? "FULL" : "NORMAL",
                    "; PRAGMA wal_autocheckpoint = ", options.wal_autocheckpoint_pages, ";");
  }
  RETURN_IF_ERROR(db->Exec(pragmas));
  return db;
}

Db::~Db() {
  statements_.clear();
  if (handle_ != nullptr) {
    sqlite3_close_v2(handle_);
  }
}

absl::Status Db::Exec(std::string_view sql) {
  const std::string text(sql);
  char* message = nullptr;
  const int rc = sqlite3_exec(handle_, text.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    const std::string detail = message ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    return Error(rc, absl::StrCat("executing SQL (", detail, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Query> Db::Prepare(std::string_view sql) {
  auto it = statements_.find(std::string(sql));
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(handle_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      return Error(rc, absl::StrCat("preparing \"", std::string(sql), "\""));
    }
    it = statements_.emplace(std::string(sql), std::unique_ptr<sqlite3_stmt, StmtDeleter>(stmt))
             .first;
  }
  return Query(this, it->second.get());
}

absl::Status Db::Checkpoint(bool restart, int* wal_frames, int* backfilled) {
  int log = 0;
  int checkpointed = 0;
  const int rc = sqlite3_wal_checkpoint_v2(
      handle_, nullptr, restart ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE, &log,
      &checkpointed);
  if (wal_frames != nullptr) {
    *wal_frames = log;
  }
  if (backfilled != nullptr) {
    *backfilled = checkpointed;
  }
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    return Error(rc, "checkpointing the WAL");
  }
  return absl::OkStatus();
}

void Db::TrackWalFrames() {
  sqlite3_wal_hook(
      handle_,
      [](void* self, sqlite3*, const char*, int frames) {
        static_cast<Db*>(self)->wal_frames_ = frames;
        return SQLITE_OK;
      },
      this);
}

int64_t Db::Changes() const { return sqlite3_changes64(handle_); }
int64_t Db::LastInsertRowid() const { return sqlite3_last_insert_rowid(handle_); }

Query::Query(Query&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }

Query::~Query() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Query& Query::Bind(int index, int64_t value) {
  SS_CHECK(sqlite3_bind_int64(stmt_, index, value) == SQLITE_OK);
  return *this;
}

Query& Query::Bind(int index, double value) {
  SS_CHECK(sqlite3_bind_double(stmt_, index, value) == SQLITE_OK);
  return *this;
}

Query& Query::Bind(int index, std::string_view text) {
  SS_CHECK(sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8) == SQLITE_OK);
  return *this;
}

Query& Query::Bind(int index, Blob blob) {
  // A zero-length blob must still bind as a blob, not NULL, so give it a valid pointer.
  const char* data = blob.bytes.empty() ? "" : blob.bytes.data();
  SS_CHECK(sqlite3_bind_blob64(stmt_, index, data, blob.bytes.size(),
                               blob.copy ? SQLITE_TRANSIENT : SQLITE_STATIC) == SQLITE_OK);
  return *this;
}

Query& Query::Bind(int index, std::optional<double> value) {
  return value.has_value() ? Bind(index, *value) : BindNull(index);
}

Query& Query::BindNull(int index) {
  SS_CHECK(sqlite3_bind_null(stmt_, index) == SQLITE_OK);
  return *this;
}

absl::StatusOr<bool> Query::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  return db_->Error(rc, absl::StrCat("running \"", sqlite3_sql(stmt_), "\""));
}

void Query::Reset() { sqlite3_reset(stmt_); }

absl::Status Query::Run() {
  while (true) {
    ASSIGN_OR_RETURN(const bool row, Step());
    if (!row) {
      return absl::OkStatus();
    }
  }
}

int64_t Query::Int(int column) const { return sqlite3_column_int64(stmt_, column); }
double Query::Double(int column) const { return sqlite3_column_double(stmt_, column); }

std::optional<double> Query::OptionalDouble(int column) const {
  if (IsNull(column)) {
    return std::nullopt;
  }
  return Double(column);
}

std::string Query::Text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return text ? std::string(text, sqlite3_column_bytes(stmt_, column)) : std::string();
}

std::string Query::BlobBytes(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  return data ? std::string(data, sqlite3_column_bytes(stmt_, column)) : std::string();
}

std::string_view Query::BlobView(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  return data ? std::string_view(data, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
              : std::string_view();
}

bool Query::IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

absl::StatusOr<std::unique_ptr<Transaction>> Transaction::Begin(Db* db) {
  ASSIGN_OR_RETURN(Query begin, db->Prepare("BEGIN IMMEDIATE"));
  RETURN_IF_ERROR(begin.Run());
  return std::unique_ptr<Transaction>(new Transaction(db));
}

absl::Status Transaction::Commit() {
  SS_CHECK(open_);
  ASSIGN_OR_RETURN(Query commit, db_->Prepare("COMMIT"));
  RETURN_IF_ERROR(commit.Run());
  open_ = false;
  return absl::OkStatus();
}

Transaction::~Transaction() {
  if (open_) {
    // A failed ROLLBACK leaves nothing better to do: SQLite rolls back on close anyway.
    auto rollback = db_->Prepare("ROLLBACK");
    if (rollback.ok()) {
      rollback->Run().IgnoreError();
    }
  }
}

absl::StatusOr<std::unique_ptr<Savepoint>> Savepoint::Begin(Db* db) {
  ASSIGN_OR_RETURN(Query begin, db->Prepare("SAVEPOINT op"));
  RETURN_IF_ERROR(begin.Run());
  return std::unique_ptr<Savepoint>(new Savepoint(db));
}

absl::Status Savepoint::Release() {
  SS_CHECK(open_);
  ASSIGN_OR_RETURN(Query release, db_->Prepare("RELEASE op"));
  RETURN_IF_ERROR(release.Run());
  open_ = false;
  return absl::OkStatus();
}

Savepoint::~Savepoint() {
  if (open_) {
    auto rollback = db_->Prepare("ROLLBACK TO op");
    if (rollback.ok()) {
      rollback->Run().IgnoreError();
    }
    auto release = db_->Prepare("RELEASE op");
    if (release.ok()) {
      release->Run().IgnoreError();
    }
  }
}

}  // namespace sparsescale::store

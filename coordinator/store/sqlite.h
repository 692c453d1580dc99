// Thin RAII layer over the SQLite C API used by the store: a connection (Db) with a cache of
// prepared statements, a Query handle that resets its cached statement when it goes out of
// scope, and Transaction / Savepoint objects that roll back unless committed.
// Thread-safety: a Db and everything obtained from it belong to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sparsescale::store {

// Durability of commits in WAL mode (see docs/ARCHITECTURE.md, "Store durability").
enum class SyncMode { kNormal, kFull };

struct DbOptions {
  SyncMode sync = SyncMode::kNormal;
  int busy_timeout_ms = 5000;
  int cache_size_kib = 64 * 1024;
  // WAL pages before the committing connection checkpoints by itself; 0 = never (the
  // coordinator's Checkpointer thread does it off the commit path).
  int wal_autocheckpoint_pages = 1000;
  // Page size of a new database (an existing one keeps its own). Every commit rewrites whole
  // pages (B-tree leaves, the job's row, counters), so small pages keep the WAL small; measured
  // with bench/coordinator ingest: 4 KiB writes about a third of the WAL of 16 KiB at the same
  // throughput, so the WAL restarts (and their fsync stalls) are a third as frequent.
  int page_size_bytes = 4096;
  // Bytes of the database file SQLite may read through a memory map instead of pread (PRAGMA
  // mmap_size; SQLite caps it at its compile-time SQLITE_MAX_MMAP_SIZE, 2 GiB by default, and
  // reads the rest as before); 0 = no map. The coordinator maps only its reader connections: a
  // 4 MiB dataset chunk is 1,024 overflow pages, one pread each without the map. Writes always
  // go through write() (SQLite does not write through the map), so the writer is unaffected.
  int64_t mmap_size_bytes = 0;
  bool read_only = false;
};

// A blob parameter (text parameters are plain string_views). With `copy` false SQLite uses the
// bytes in place, so they must stay valid until the statement has run.
struct Blob {
  std::string_view bytes;
  bool copy = true;
};

class Db;

// One use of a cached prepared statement: bind, step, read columns. Destruction resets the
// statement and clears its bindings so the cache can hand it out again.
class Query {
 public:
  Query(Query&& other) noexcept;
  Query& operator=(Query&&) = delete;
  ~Query();

  Query& Bind(int index, int64_t value);
  Query& Bind(int index, int value) { return Bind(index, int64_t{value}); }
  Query& Bind(int index, double value);
  Query& Bind(int index, std::string_view text);
  Query& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Query& Bind(int index, const std::string& text) { return Bind(index, std::string_view(text)); }
  Query& Bind(int index, Blob blob);
  Query& Bind(int index, std::optional<double> value);
  Query& BindNull(int index);

  // Advances: true when a row is available, false when done; an error status otherwise.
  absl::StatusOr<bool> Step();
  // Steps until done (for statements without result rows).
  absl::Status Run();
  // Makes the statement runnable again with new bindings (each column must be re-bound).
  void Reset();

  int64_t Int(int column) const;
  double Double(int column) const;
  std::optional<double> OptionalDouble(int column) const;
  std::string Text(int column) const;
  std::string BlobBytes(int column) const;
  // The column's bytes in place, without a copy: valid until the next Step, Reset or
  // destruction of this Query (SQLite's own buffer).
  std::string_view BlobView(int column) const;
  bool IsNull(int column) const;

 private:
  friend class Db;
  Query(Db* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  Db* db_;
  sqlite3_stmt* stmt_;
};

class Db {
 public:
  // Opens (creating when allowed) the database file and applies connection settings: WAL,
  // synchronous level, busy timeout. Unavailable with the path and SQLite's message on failure.
  static absl::StatusOr<std::unique_ptr<Db>> Open(const std::string& path,
                                                  const DbOptions& options);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more SQL statements without results (schema migrations, pragmas only).
  absl::Status Exec(std::string_view sql);
  // The cached prepared statement for `sql` (prepared on first use).
  absl::StatusOr<Query> Prepare(std::string_view sql);

  // Runs a WAL checkpoint; `restart` also waits for the writer so the WAL starts over.
  // *wal_frames gets the frames in the WAL and *backfilled those now copied into the database
  // (when not null). Another connection's checkpoint in progress is not an error (nothing done).
  absl::Status Checkpoint(bool restart, int* wal_frames, int* backfilled = nullptr);

  // From now on wal_frames() follows the WAL's size after each commit of this connection
  // (SQLite's WAL hook; replaces its auto-checkpoint, so only for a connection that has none).
  void TrackWalFrames();
  int wal_frames() const { return wal_frames_; }

  int64_t Changes() const;
  int64_t LastInsertRowid() const;
  const std::string& path() const { return path_; }

  // A status for SQLite result code `rc`, with SQLite's message and `what` as context.
  absl::Status Error(int rc, std::string_view what) const;

 private:
  struct StmtDeleter {
    void operator()(sqlite3_stmt* stmt) const;
  };
  explicit Db(std::string path) : path_(std::move(path)) {}

  std::string path_;
  sqlite3* handle_ = nullptr;
  int wal_frames_ = 0;
  std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, StmtDeleter>> statements_;
};

// BEGIN IMMEDIATE ... COMMIT; the destructor rolls back an uncommitted transaction.
class Transaction {
 public:
  static absl::StatusOr<std::unique_ptr<Transaction>> Begin(Db* db);
  ~Transaction();
  absl::Status Commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;
  bool open_ = true;
};

// A nested savepoint inside a transaction; rolls back to its start unless released.
class Savepoint {
 public:
  static absl::StatusOr<std::unique_ptr<Savepoint>> Begin(Db* db);
  ~Savepoint();
  absl::Status Release();

 private:
  explicit Savepoint(Db* db) : db_(db) {}
  Db* db_;
  bool open_ = true;
};

}  // namespace sparsescale::store

// The coordinator's schema migrations, embedded from sql/NNNN_*.sql at build time. Version N is
// the file numbered N; versions are consecutive from 1. Immutable data; thread-safe.
#pragma once

#include <string_view>
#include <vector>

namespace sparsescale::sql {

struct Migration {
  int version;
  std::string_view name;  // file name, e.g. "0001_init.sql"
  std::string_view sql;   // statements separated by ';'
};

// All migrations in ascending version order.
const std::vector<Migration>& Migrations();

}  // namespace sparsescale::sql

#include "coordinator/auth/token_registry.h"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/sha256.h"
#include "common/status.h"
#include "coordinator/auth/roles.h"

namespace sparsescale::auth {
namespace {

constexpr std::string_view kBearer = "Bearer ";

// `bytes` bytes from the kernel's CSPRNG, as hex.
std::string RandomHex(size_t bytes) {
  std::array<unsigned char, 64> buffer{};
  SS_CHECK(bytes <= buffer.size());
  size_t filled = 0;
  while (filled < bytes) {
    const ssize_t got = getrandom(buffer.data() + filled, bytes - filled, 0);
    SS_CHECK(got > 0 || errno == EINTR);
    filled += got > 0 ? static_cast<size_t>(got) : 0;
  }
  std::string hex;
  for (size_t i = 0; i < bytes; ++i) {
    absl::StrAppendFormat(&hex, "%02x", buffer[i]);
  }
  return hex;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

TokenRegistry::TokenRegistry(std::vector<store::TokenRow> rows) {
  for (store::TokenRow& row : rows) {
    Add(std::move(row));
  }
}

absl::StatusOr<Principal> TokenRegistry::Authorize(std::string_view authorization, v1::Role needed,
                                                   int64_t now_unix_ms) {
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "no token: send metadata 'authorization: Bearer <token>' (--token, --token-file or "
        "SPARSESCALE_TOKEN)");
  }
  if (authorization.substr(0, kBearer.size()) != kBearer) {
    return absl::UnauthenticatedError("authorization: not a bearer token ('Bearer <token>')");
  }
  const std::string_view token = authorization.substr(kBearer.size());
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos) {
    return absl::UnauthenticatedError("authorization: malformed token (expected <id>.<secret>)");
  }
  const std::string id(token.substr(0, dot));
  const std::string hash = Sha256Hex(token.substr(dot + 1));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(id);
  if (it == tokens_.end() || !ConstantTimeEqual(hash, it->second.row.secret_sha256)) {
    return absl::UnauthenticatedError("authorization: unknown token or wrong secret");
  }
  store::TokenRow& row = it->second.row;
  if (row.revoked_unix_ms != 0) {
    return absl::UnauthenticatedError(absl::StrCat("token ", id, " is revoked"));
  }
  if (row.expires_unix_ms != 0 && now_unix_ms >= row.expires_unix_ms) {
    return absl::UnauthenticatedError(absl::StrCat("token ", id, " has expired"));
  }
  const v1::Role role = static_cast<v1::Role>(row.role);
  if (!RoleAllows(role, needed)) {
    return absl::PermissionDeniedError(
        absl::StrCat("this call needs role ", RoleName(needed),
                     needed == v1::ROLE_ADMIN ? "" : " (or admin)", "; token ", id, " has role ",
                     RoleName(role)));
  }
  row.last_used_unix_ms = std::max(row.last_used_unix_ms, now_unix_ms);
  return Principal{.token_id = id, .role = role};
}

Principal TokenRegistry::Identify(std::string_view authorization) const {
  if (authorization.empty()) {
    return Principal{.token_id = kAnonymousActor, .role = v1::ROLE_UNSPECIFIED};
  }
  const Principal invalid{.token_id = kInvalidTokenActor, .role = v1::ROLE_UNSPECIFIED};
  if (authorization.substr(0, kBearer.size()) != kBearer) {
    return invalid;
  }
  const std::string_view token = authorization.substr(kBearer.size());
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos) {
    return invalid;
  }
  const std::string id(token.substr(0, dot));
  const std::string hash = Sha256Hex(token.substr(dot + 1));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(id);
  if (it == tokens_.end() || !ConstantTimeEqual(hash, it->second.row.secret_sha256)) {
    return invalid;
  }
  return Principal{.token_id = id, .role = static_cast<v1::Role>(it->second.row.role)};
}

TokenRegistry::Minted TokenRegistry::Mint(v1::Role role, int64_t ttl_ms, std::string description,
                                          int64_t now_unix_ms) {
  const std::string id = "tok_" + RandomHex(8);
  const std::string secret = RandomHex(32);
  store::TokenRow row{.id = id,
                      .role = role,
                      .secret_sha256 = Sha256Hex(secret),
                      .description = std::move(description),
                      .created_unix_ms = now_unix_ms,
                      .expires_unix_ms = ttl_ms > 0 ? now_unix_ms + ttl_ms : 0,
                      .revoked_unix_ms = 0,
                      .last_used_unix_ms = 0,
                      .worker_ids = {}};
  return Minted{.row = std::move(row), .bearer = absl::StrCat(id, ".", secret)};
}

void TokenRegistry::Add(store::TokenRow row) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& entry = tokens_[row.id];
  entry.persisted_last_used_unix_ms = row.last_used_unix_ms;
  entry.workers.insert(row.worker_ids.begin(), row.worker_ids.end());
  entry.row = std::move(row);
}

absl::Status TokenRegistry::Revoke(const std::string& id, int64_t now_unix_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(id);
  if (it == tokens_.end()) {
    return absl::NotFoundError(absl::StrCat("id: token ", id, " does not exist"));
  }
  if (it->second.row.revoked_unix_ms == 0) {
    it->second.row.revoked_unix_ms = now_unix_ms;
  }
  return absl::OkStatus();
}

bool TokenRegistry::BindWorker(const std::string& token_id, const std::string& worker_id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, entry] : tokens_) {
    if (id != token_id && entry.workers.contains(worker_id)) {
      return false;
    }
  }
  auto it = tokens_.find(token_id);
  if (it == tokens_.end()) {
    return false;
  }
  if (it->second.workers.insert(worker_id).second) {
    it->second.row.worker_ids.push_back(worker_id);
  }
  return true;
}

bool TokenRegistry::OwnsWorker(const std::string& token_id, const std::string& worker_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(token_id);
  return it != tokens_.end() && it->second.workers.contains(worker_id);
}

absl::StatusOr<store::TokenRow> TokenRegistry::Find(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(id);
  if (it == tokens_.end()) {
    return absl::NotFoundError(absl::StrCat("id: token ", id, " does not exist"));
  }
  return it->second.row;
}

std::vector<store::TokenRow> TokenRegistry::List() const {
  std::vector<store::TokenRow> rows;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, entry] : tokens_) {
      rows.push_back(entry.row);
    }
  }
  std::sort(rows.begin(), rows.end(), [](const store::TokenRow& a, const store::TokenRow& b) {
    return std::tie(a.created_unix_ms, a.id) < std::tie(b.created_unix_ms, b.id);
  });
  return rows;
}

bool TokenRegistry::empty() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tokens_.empty();
}

std::vector<std::pair<std::string, int64_t>> TokenRegistry::TakeLastUsed() {
  std::vector<std::pair<std::string, int64_t>> moved;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, entry] : tokens_) {
    if (entry.row.last_used_unix_ms - entry.persisted_last_used_unix_ms >= kLastUsedResolutionMs ||
        (entry.persisted_last_used_unix_ms == 0 && entry.row.last_used_unix_ms != 0)) {
      entry.persisted_last_used_unix_ms = entry.row.last_used_unix_ms;
      moved.emplace_back(id, entry.row.last_used_unix_ms);
    }
  }
  return moved;
}

}  // namespace sparsescale::auth

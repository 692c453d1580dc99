// Roles and the table that maps every RPC of ClientService and WorkerService to the role it
// needs (docs/SECURITY.md prints the same table). ADMIN may call everything; SUBMITTER may
// call what VIEWER may and the mutating client calls; VIEWER the reads; WORKER the worker
// service. Thread-safety: immutable data, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::auth {

struct RpcRule {
  std::string_view method;  // "<service name>.<method name>", e.g. "ClientService.SubmitJob"
  v1::Role role;            // the least role that may call it
  bool mutating;            // audited and rate-limited
  bool summarised;          // a worker hot path: successful calls are audited as counts
};

// Every rule, in the proto's order.
const std::vector<RpcRule>& RpcRules();
// The rule for `method` ("ClientService.SubmitJob"); nullptr when the table lacks it.
const RpcRule* FindRpcRule(std::string_view method);

// Whether a token of role `have` may call what needs `need`.
bool RoleAllows(v1::Role have, v1::Role need);
// "admin", "submitter", "viewer", "worker" ("unspecified" for anything else).
std::string RoleName(v1::Role role);
// The inverse of RoleName. InvalidArgument naming `field` and the four names otherwise.
absl::StatusOr<v1::Role> ParseRole(std::string_view name, std::string_view field = "role");

}  // namespace sparsescale::auth

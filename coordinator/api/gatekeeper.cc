#include "coordinator/api/gatekeeper.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <future>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "coordinator/store/store_auth.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace sparsescale::coordinator {
namespace {

using Done = CoordinatorCore::Done;

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Waits for a core operation that answers through a Done.
absl::Status Wait(const std::function<void(Done)>& start) {
  std::promise<absl::Status> promise;
  std::future<absl::Status> result = promise.get_future();
  start([&promise](absl::Status status) { promise.set_value(std::move(status)); });
  return result.get();
}

// A string field `name` of `message`, "" when it has none.
std::string StringField(const google::protobuf::Message& message, const char* name) {
  const google::protobuf::FieldDescriptor* field = message.GetDescriptor()->FindFieldByName(name);
  if (field == nullptr || field->is_repeated() ||
      field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) {
    return "";
  }
  return message.GetReflection()->GetString(message, field);
}

std::string IdOf(const google::protobuf::Message& message) {
  // "dataset" is the name or hash a dataset RPC names; "hash" a Dataset's in an answer.
  for (const char* name : {"id", "job_id", "sweep_id", "worker_id", "fit_id", "dataset", "hash"}) {
    std::string id = StringField(message, name);
    if (!id.empty()) {
      return id;
    }
  }
  return "";
}

// Writes `secret` to `path` with mode 0600 (a temporary file renamed into place).
absl::Status WriteSecretFile(const std::string& path, const std::string& secret) {
  const std::string temp = path + ".tmp";
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot create ", temp, ": ", std::strerror(errno)));
  }
  const std::string line = secret + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const bool closed = ::close(fd) == 0;
  if (!written || !closed || ::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void FillToken(const store::TokenRow& row, v1::TokenInfo* info) {
  info->set_id(row.id);
  info->set_role(static_cast<v1::Role>(row.role));
  info->set_description(row.description);
  info->set_created_unix_ms(row.created_unix_ms);
  info->set_expires_unix_ms(row.expires_unix_ms);
  info->set_revoked_unix_ms(row.revoked_unix_ms);
  info->set_last_used_unix_ms(row.last_used_unix_ms);
  for (const std::string& worker : row.worker_ids) {
    info->add_worker_ids(worker);
  }
}

}  // namespace

std::string ObjectOf(const google::protobuf::Message* request,
                     const google::protobuf::Message* response) {
  std::string id = request != nullptr ? IdOf(*request) : "";
  if (!id.empty() || response == nullptr) {
    return id;
  }
  id = IdOf(*response);
  const google::protobuf::Reflection* reflection = response->GetReflection();
  for (const char* name : {"job", "sweep", "token", "info", "dataset"}) {
    const google::protobuf::FieldDescriptor* field =
        response->GetDescriptor()->FindFieldByName(name);
    if (id.empty() && field != nullptr && !field->is_repeated() &&
        field->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE &&
        reflection->HasField(*response, field)) {
      id = IdOf(reflection->GetMessage(*response, field));
    }
  }
  return id;
}

Gatekeeper::Gatekeeper(CoordinatorCore* core, const AuthOptions& options)
    : core_(core), options_(options), limiter_(options.rate) {}

absl::StatusOr<std::unique_ptr<Gatekeeper>> Gatekeeper::Start(CoordinatorCore* core,
                                                              const AuthOptions& options) {
  std::unique_ptr<Gatekeeper> gate(new Gatekeeper(core, options));
  std::vector<store::TokenRow> rows;
  RETURN_IF_ERROR(Wait([&](Done done) {
    core->Read(
        [&rows](store::Store& store) -> absl::Status {
          ASSIGN_OR_RETURN(rows, store::LoadTokens(store));
          return absl::OkStatus();
        },
        done);
  }));
  gate->registry_ = std::make_unique<auth::TokenRegistry>(std::move(rows));
  if (options.tokens && gate->registry_->empty()) {
    RETURN_IF_ERROR(gate->Bootstrap());
  }
  gate->flusher_ = std::thread([g = gate.get()] { g->FlushLoop(); });
  return gate;
}

absl::Status Gatekeeper::Bootstrap() {
  const std::string path = options_.admin_token_file.empty()
                               ? core_->options().db_path + ".admin-token"
                               : options_.admin_token_file;
  auth::TokenRegistry::Minted admin = auth::TokenRegistry::Mint(
      v1::ROLE_ADMIN, 0, "first admin token (created at the first start)", core_->now_unix_ms());
  RETURN_IF_ERROR(WriteSecretFile(path, admin.bearer));
  RETURN_IF_ERROR(Wait([&](Done done) {
    core_->Write([&row = admin.row](store::Store& store) { return store::InsertToken(store, row); },
                 done);
  }));
  registry_->Add(admin.row);
  LogInfo("no tokens were stored: admin token %s written to %s (mode 0600)", admin.row.id, path);
  return absl::OkStatus();
}

Gatekeeper::~Gatekeeper() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (flusher_.joinable()) {
    flusher_.join();
  }
  Wait([this](Done done) { Flush(std::move(done)); }).IgnoreError();
}

absl::StatusOr<Gatekeeper::Caller> Gatekeeper::Admit(grpc::CallbackServerContext* ctx,
                                                     std::string_view method,
                                                     const google::protobuf::Message* request) {
  Caller caller{.principal = {}, .rule = auth::FindRpcRule(method)};
  SS_CHECK(caller.rule != nullptr);  // auth_test checks that the table has every RPC
  const auto& metadata = ctx->client_metadata();
  auto header = metadata.find("authorization");
  const std::string_view value =
      header == metadata.end() ? std::string_view()
                               : std::string_view(header->second.data(), header->second.size());
  if (options_.worker_client_certs && caller.rule->role == v1::ROLE_WORKER &&
      !ctx->auth_context()->IsPeerAuthenticated()) {
    absl::Status refused = absl::UnauthenticatedError(
        "worker calls need a client certificate signed by the coordinator's --tls-client-ca");
    if (options_.tokens) {
      caller.principal = registry_->Identify(value);
    }
    Refused(caller, method, refused);
    return refused;
  }
  if (!options_.tokens) {
    caller.principal.role = v1::ROLE_ADMIN;
    return caller;
  }
  auto principal = registry_->Authorize(value, caller.rule->role, core_->now_unix_ms());
  absl::Status status = principal.status();
  if (status.ok()) {
    caller.principal = *principal;
    if (request != nullptr && method != "WorkerService.RegisterWorker") {
      status = CheckWorker(caller, StringField(*request, "worker_id"));
    }
  } else {
    // Refused before a principal was known: the audit row names the token when its secret
    // matched (wrong role, revoked, expired), else says there was none or an invalid one.
    caller.principal = registry_->Identify(value);
  }
  if (status.ok() && caller.rule->mutating &&
      !limiter_.Allow(caller.principal.token_id, SteadyNowMs())) {
    status = absl::ResourceExhaustedError(
        absl::StrCat("token ", caller.principal.token_id, " is over its rate limit of ",
                     options_.rate.per_second, " mutating calls/s (burst ", options_.rate.burst,
                     "); slow down and retry"));
  }
  if (!status.ok()) {
    Refused(caller, method, status);
    return status;
  }
  return caller;
}

absl::Status Gatekeeper::CheckWorker(const Caller& caller, const std::string& worker_id) const {
  if (!options_.tokens || caller.principal.role != v1::ROLE_WORKER || worker_id.empty() ||
      registry_->OwnsWorker(caller.principal.token_id, worker_id)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("worker_id: token ", caller.principal.token_id, " did not register worker ",
                   worker_id, " (a worker token acts only for the workers it registered)"));
}

absl::Status Gatekeeper::CheckRendezvous(const Caller& caller,
                                         const v1::RendezvousRequest& request,
                                         const std::string& holder) const {
  if (CheckWorker(caller, holder).ok()) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "job_id: attempt ", request.attempt(), " of job ", request.job_id(),
      " is leased to worker ", holder, ", which token ", caller.principal.token_id,
      " did not register (a worker token rendezvous only for jobs leased to its own workers)"));
}

void Gatekeeper::Refused(const Caller& caller, std::string_view method,
                         const absl::Status& status) {
  const size_t dot = method.find('.');
  audit_.Add(store::AuditRow{.time_unix_ms = core_->now_unix_ms(),
                             .actor_token_id = caller.principal.token_id,
                             .actor_role = caller.principal.role,
                             .action = std::string(method.substr(dot + 1)),
                             .object_id = "",
                             .code = static_cast<int>(status.code()),
                             .message = std::string(status.message()),
                             .calls = 1},
             /*summarised=*/true);
}

void Gatekeeper::Finished(const Caller& caller, const google::protobuf::Message* request,
                          const google::protobuf::Message* response, const absl::Status& status) {
  const std::string_view method = caller.rule->method;
  const bool registered = status.ok() && method == "WorkerService.RegisterWorker";
  if (registered && options_.tokens && caller.principal.role == v1::ROLE_WORKER) {
    const std::string token_id = caller.principal.token_id;
    const std::string worker_id = StringField(*response, "worker_id");
    if (!registry_->BindWorker(token_id, worker_id)) {
      LogWarning("token %s registered worker %s, which another token holds: not bound",
                 token_id, worker_id);
      return;
    }
    core_->Write(
        [token_id, worker_id](store::Store& store) {
          return store::BindTokenWorker(store, token_id, worker_id);
        },
        [](absl::Status s) {
          if (!s.ok()) {
            LogError("cannot store a worker token's binding: %s", s.ToString());
          }
        });
  }
  if (!caller.rule->mutating) {
    return;
  }
  audit_.Add(store::AuditRow{.time_unix_ms = core_->now_unix_ms(),
                             .actor_token_id = caller.principal.token_id,
                             .actor_role = caller.principal.role,
                             .action = std::string(method.substr(method.find('.') + 1)),
                             .object_id = ObjectOf(request, status.ok() ? response : nullptr),
                             .code = static_cast<int>(status.code()),
                             .message = std::string(status.message()),
                             .calls = 1},
             caller.rule->summarised && status.ok());
}

void Gatekeeper::Flush(Done done) {
  std::vector<store::AuditRow> rows = audit_.Take();
  std::vector<std::pair<std::string, int64_t>> used = registry_->TakeLastUsed();
  if (rows.empty() && used.empty()) {
    done(absl::OkStatus());
    return;
  }
  core_->Write(
      [rows = std::move(rows), used = std::move(used)](store::Store& store) -> absl::Status {
        RETURN_IF_ERROR(store::InsertAudit(store, rows));
        for (const auto& [id, when] : used) {
          RETURN_IF_ERROR(store::TouchToken(store, id, when));
        }
        return absl::OkStatus();
      },
      std::move(done));
}

void Gatekeeper::FlushLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.audit_flush_period);
    lock.unlock();
    Flush([](absl::Status s) {
      if (!s.ok()) {
        LogError("cannot write the audit log: %s", s.ToString());
      }
    });
    lock.lock();
  }
}

void Gatekeeper::CreateToken(const v1::CreateTokenRequest& request,
                             v1::CreateTokenResponse* response, Done done) {
  if (request.role() == v1::ROLE_UNSPECIFIED || !v1::Role_IsValid(request.role())) {
    done(absl::InvalidArgumentError("role: must be admin, submitter, viewer or worker"));
    return;
  }
  if (request.ttl_ms() < 0) {
    done(absl::InvalidArgumentError(absl::StrCat("ttl_ms: must be >= 0, got ", request.ttl_ms())));
    return;
  }
  if (request.description().size() > 256) {
    done(absl::InvalidArgumentError("description: longer than 256 characters"));
    return;
  }
  auto minted = std::make_shared<auth::TokenRegistry::Minted>(auth::TokenRegistry::Mint(
      request.role(), request.ttl_ms(), request.description(), core_->now_unix_ms()));
  core_->Write([minted](store::Store& store) { return store::InsertToken(store, minted->row); },
               [this, minted, response, done = std::move(done)](absl::Status status) {
                 if (status.ok()) {
                   registry_->Add(minted->row);
                   FillToken(minted->row, response->mutable_token());
                   response->set_secret(minted->bearer);
                 }
                 done(status);
               });
}

void Gatekeeper::ListTokens(v1::ListTokensResponse* response, Done done) {
  for (const store::TokenRow& row : registry_->List()) {
    FillToken(row, response->add_tokens());
  }
  done(absl::OkStatus());
}

void Gatekeeper::RevokeToken(const v1::RevokeTokenRequest& request,
                             v1::RevokeTokenResponse* response, Done done) {
  if (request.id().empty()) {
    done(absl::InvalidArgumentError("id: must name a token (tok_...)"));
    return;
  }
  if (absl::Status known = registry_->Find(request.id()).status(); !known.ok()) {
    done(known);
    return;
  }
  const int64_t now = core_->now_unix_ms();
  core_->Write(
      [id = request.id(), now](store::Store& store) { return store::RevokeToken(store, id, now); },
      [this, id = request.id(), now, response, done = std::move(done)](absl::Status status) {
        if (status.ok()) {
          status = registry_->Revoke(id, now);
        }
        if (status.ok()) {
          FillToken(*registry_->Find(id), response->mutable_token());
        }
        done(status);
      });
}

void Gatekeeper::ListAudit(const v1::ListAuditRequest& request, v1::ListAuditResponse* response,
                           Done done) {
  if (request.since_unix_ms() < 0 || request.limit() < 0 || request.limit() > 100'000) {
    done(absl::InvalidArgumentError("since_unix_ms must be >= 0 and limit in [0, 100000]"));
    return;
  }
  store::AuditFilter filter{.since_unix_ms = request.since_unix_ms(),
                            .actor_token_id = request.actor_token_id(),
                            .limit = request.limit() == 0 ? 1000 : request.limit()};
  // What is queued is written first, so that the answer includes every call made before.
  Flush([this, filter, response, done = std::move(done)](absl::Status flushed) mutable {
    if (!flushed.ok()) {
      done(flushed);
      return;
    }
    core_->Read(
        [filter, response](store::Store& store) -> absl::Status {
          ASSIGN_OR_RETURN(std::vector<store::AuditRow> rows, store::ListAudit(store, filter));
          for (const store::AuditRow& row : rows) {
            v1::AuditRecord* r = response->add_records();
            r->set_seq(row.seq);
            r->set_time_unix_ms(row.time_unix_ms);
            r->set_actor_token_id(row.actor_token_id);
            r->set_actor_role(static_cast<v1::Role>(row.actor_role));
            r->set_action(row.action);
            r->set_object_id(row.object_id);
            r->set_code(row.code);
            r->set_message(row.message);
            r->set_calls(row.calls);
          }
          return absl::OkStatus();
        },
        std::move(done));
  });
}

}  // namespace sparsescale::coordinator

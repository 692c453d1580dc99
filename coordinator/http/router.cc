#include "coordinator/http/router.h"

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sparsescale::coordinator::http {

namespace {

// True when `path` matches `pattern`; fills `params`.
bool MatchPattern(const std::string& pattern, const std::string& path,
                  std::map<std::string, std::string>* params) {
  const std::vector<absl::string_view> want = absl::StrSplit(pattern, '/');
  const std::vector<absl::string_view> have = absl::StrSplit(path, '/');
  for (size_t i = 0; i < want.size(); ++i) {
    const absl::string_view w = want[i];
    const bool variable = w.size() > 2 && w.front() == '{' && w.back() == '}';
    if (variable && w.size() > 5 && w.substr(w.size() - 4) == "...}") {
      if (i >= have.size()) {
        return false;
      }
      std::vector<absl::string_view> rest(have.begin() + static_cast<long>(i), have.end());
      (*params)[std::string(w.substr(1, w.size() - 5))] = absl::StrJoin(rest, "/");
      return !(*params)[std::string(w.substr(1, w.size() - 5))].empty();
    }
    if (i >= have.size()) {
      return false;
    }
    if (variable) {
      if (have[i].empty()) {
        return false;
      }
      (*params)[std::string(w.substr(1, w.size() - 2))] = PercentDecode(std::string(have[i]));
    } else if (w != have[i]) {
      return false;
    }
  }
  return want.size() == have.size();
}

}  // namespace

const char* RoleName(Role role) { return role == Role::kSubmitter ? "submitter" : "viewer"; }

void Router::Add(std::string method, std::string pattern, Role role, Handler handler) {
  routes_.push_back(Route{.method = std::move(method),
                          .pattern = std::move(pattern),
                          .role = role,
                          .handler = std::move(handler)});
}

Router::Match Router::Find(const std::string& method, const std::string& path) const {
  Match match;
  std::vector<std::string> allowed;
  for (const Route& route : routes_) {
    std::map<std::string, std::string> params;
    if (!MatchPattern(route.pattern, path, &params)) {
      continue;
    }
    if (route.method == method) {
      match.route = &route;
      match.params = std::move(params);
      return match;
    }
    allowed.push_back(route.method);
  }
  match.status = allowed.empty() ? 404 : 405;
  match.allowed = absl::StrJoin(allowed, ", ");
  return match;
}

}  // namespace sparsescale::coordinator::http

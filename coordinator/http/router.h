// Router: maps (method, path) to a flat handler. Patterns are literal segments and `{name}`
// segments ("/api/v1/jobs/{id}/curve"), plus an optional final `{name...}` that takes the rest
// of the path ("/assets/{file...}"). Every route declares the role it needs; the server asks
// its Authorizer before calling the handler.
// Thread-safety: Add() before serving; Match() is then thread-safe (read-only).
#pragma once

#include <string>
#include <vector>

#include "coordinator/http/http_message.h"

namespace sparsescale::coordinator::http {

enum class Role { kViewer, kSubmitter };
const char* RoleName(Role role);

struct Route {
  std::string method;
  std::string pattern;
  Role role = Role::kViewer;
  Handler handler;
};

class Router {
 public:
  void Add(std::string method, std::string pattern, Role role, Handler handler);

  struct Match {
    const Route* route = nullptr;  // null: see status
    int status = 200;              // 404 no pattern matches the path, 405 none for the method
    std::map<std::string, std::string> params;
    std::string allowed;  // 405: the methods the path has, for the Allow header
  };
  Match Find(const std::string& method, const std::string& path) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace sparsescale::coordinator::http

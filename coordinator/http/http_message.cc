#include "coordinator/http/http_message.h"

#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace sparsescale::coordinator::http {

HttpResponse ErrorResponse(int status, const std::string& message, const std::string& parameter) {
  nlohmann::json error = {{"code", status}, {"message", message}};
  if (!parameter.empty()) {
    error["parameter"] = parameter;
  }
  HttpResponse response;
  response.status = status;
  response.body = nlohmann::json{{"error", error}}.dump();
  return response;
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

std::string PercentDecode(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
               HexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(const std::string& query) {
  std::map<std::string, std::string> out;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    const std::string name(pair.substr(0, eq));
    const std::string value(eq == absl::string_view::npos ? "" : pair.substr(eq + 1));
    out[PercentDecode(name)] = PercentDecode(value);
  }
  return out;
}

}  // namespace sparsescale::coordinator::http

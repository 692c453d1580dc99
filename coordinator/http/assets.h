// The dashboard's single-page app, compiled in: every file under dashboard/ (repository root)
// becomes an entry of a generated table (embed_assets.cmake), so nothing is fetched or read from
// disk at run time. Thread-safety: immutable.
#pragma once

#include <cstddef>
#include <string_view>

namespace sparsescale::coordinator::http {

struct EmbeddedAsset {
  const char* name;  // path under dashboard/, e.g. "index.html", "vendor/uplot/uPlot.min.css"
  const unsigned char* data;
  size_t size;
  const char* content_type;
  const char* etag;  // "\"<first 16 hex digits of the SHA-256>\""
};

// The table, ended by an entry whose name is null.
const EmbeddedAsset* EmbeddedAssets();
// The asset called `name`, or null.
const EmbeddedAsset* FindAsset(std::string_view name);

}  // namespace sparsescale::coordinator::http

// SHA-256 (FIPS 180-4) of a byte string, as 64 lowercase hex digits. Used for content-addressed
// sweep cells; kept here so the trainer needs no crypto library. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace sparsescale::trainer {

std::string Sha256Hex(std::string_view data);

}  // namespace sparsescale::trainer

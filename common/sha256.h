// SHA-256 (FIPS 180-4), incremental, for verifying checkpoint uploads chunk by chunk without
// holding the whole payload. A Sha256 object is not thread-safe; Sha256Hex is pure.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sparsescale {

class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  Sha256();
  // Feeds more bytes. Must not be called after Finish().
  void Update(std::string_view data);
  // Pads, returns the digest and leaves the object unusable (construct a new one to reuse).
  Digest Finish();

  static std::string ToHex(const Digest& digest);

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// The hex SHA-256 (64 lowercase digits) of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace sparsescale

// SHA-256 (FIPS 180-4), incremental, for verifying checkpoint uploads and dataset chunks piece
// by piece without holding the whole payload. Built with OpenSSL's libcrypto when CMake finds
// it (its SHA-NI / AVX2 code hashes about 7x faster than the portable code here, which is the
// fallback). A Sha256 object is not thread-safe; Sha256Hex is pure.
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
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  // Feeds more bytes. Must not be called after Finish().
  void Update(std::string_view data);
  // Pads, returns the digest and leaves the object unusable (construct a new one to reuse).
  Digest Finish();

  static std::string ToHex(const Digest& digest);

 private:
  void Compress(const uint8_t* block);

  void* evp_ = nullptr;  // OpenSSL's EVP_MD_CTX when built with it; else the state below

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// The hex SHA-256 (64 lowercase digits) of `data`.
std::string Sha256Hex(std::string_view data);

// True for 64 lowercase hex digits: a sha256 as Sha256Hex writes it (dataset, file and chunk
// hashes).
bool IsSha256Hex(std::string_view text);

}  // namespace sparsescale

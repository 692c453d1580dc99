#include "common/sha256.h"

#include <string>

#include "gtest/gtest.h"

namespace sparsescale {
namespace {

// Test vectors from FIPS 180-4 examples and NIST's SHA-256 short/long message sets.
TEST(Sha256Test, EmptyInputMatchesKnownDigest) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256Test, AbcMatchesFipsExample) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, TwoBlockMessageMatchesFipsExample) {
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, MillionAsMatchesKnownDigest) {
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, IncrementalUpdatesEqualOneShotForEverySplit) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    data.push_back(static_cast<char>(i * 7 + 3));
  }
  const std::string expected = Sha256Hex(data);
  for (size_t split = 0; split <= data.size(); split += 13) {
    Sha256 sha;
    sha.Update(std::string_view(data).substr(0, split));
    sha.Update(std::string_view(data).substr(split));
    EXPECT_EQ(Sha256::ToHex(sha.Finish()), expected) << "split at " << split;
  }
}

}  // namespace
}  // namespace sparsescale

#include "worker/trainer/safetensors.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "worker/trainer/test_util.h"

namespace sparsescale::trainer {
namespace {

SafetensorsWriter SampleWriter() {
  SafetensorsWriter writer;
  const float w[6] = {1, -2, 3.5f, 0, 5, 6};
  const int64_t step[1] = {42};
  writer.AddF32("layer.weight", {2, 3}, w);
  writer.AddI64("trainer.step", {1}, step);
  writer.SetMetadata("format", "test");
  writer.SetMetadata("note", "quote \" and \\ backslash");
  return writer;
}

TEST(SafetensorsTest, WriteThenReadRoundTrips) {
  const std::string path = testing::MakeTempDir("st") + "/a.safetensors";
  ASSERT_TRUE(SampleWriter().WriteAtomically(path).ok());
  auto file = SafetensorsFile::Read(path);
  ASSERT_TRUE(file.ok()) << file.status();
  float w[6];
  ASSERT_TRUE(file->CopyF32("layer.weight", {2, 3}, w).ok());
  EXPECT_EQ(w[2], 3.5f);
  EXPECT_EQ(w[5], 6.0f);
  const TensorView* step = file->Find("trainer.step");
  ASSERT_NE(step, nullptr);
  int64_t s = 0;
  std::memcpy(&s, step->data, 8);
  EXPECT_EQ(s, 42);
  EXPECT_EQ(*file->Metadata("note"), "quote \" and \\ backslash");
  // The data section starts 8-byte aligned, as the reference implementation writes it.
  const std::string bytes = testing::ReadAll(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
}

TEST(SafetensorsTest, WrongShapeOrDtypeNamesTheTensor) {
  auto file = SafetensorsFile::Parse(SampleWriter().Serialize(), "mem");
  ASSERT_TRUE(file.ok());
  float w[6];
  auto status = file->CopyF32("layer.weight", {3, 2}, w);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("layer.weight"), std::string::npos) << status;
  EXPECT_FALSE(file->CopyF32("trainer.step", {1}, w).ok());
  EXPECT_NE(file->CopyF32("absent", {1}, w).message().find("absent"), std::string::npos);
}

TEST(SafetensorsTest, TruncatedFileIsRejectedWithItsName) {
  const std::string bytes = SampleWriter().Serialize();
  for (size_t cut : {size_t{0}, size_t{5}, size_t{20}, bytes.size() - 1}) {
    auto file = SafetensorsFile::Parse(bytes.substr(0, cut), "cut.safetensors");
    ASSERT_FALSE(file.ok()) << cut;
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(file.status().message().find("cut.safetensors"), std::string::npos);
  }
}

TEST(SafetensorsTest, CorruptHeaderIsRejected) {
  std::string bytes = SampleWriter().Serialize();
  bytes[8] = '[';  // header no longer a JSON object
  EXPECT_FALSE(SafetensorsFile::Parse(bytes, "x").ok());
  std::string huge = bytes;
  const uint64_t n = uint64_t{1} << 40;
  std::memcpy(huge.data(), &n, 8);
  EXPECT_FALSE(SafetensorsFile::Parse(huge, "x").ok());
}

// A header-only file whose shape multiplies past int64 (found by fuzz/safetensors_fuzz.cc;
// input kept in fuzz/regressions/safetensors/): 2^32 x 2^32 F32 elements used to wrap to 0 and
// pass as an empty tensor.
TEST(SafetensorsTest, ShapeWhoseElementCountOverflowsIsRejected) {
  for (const std::string shape : {"[4294967296, 4294967296]", "[1099511627776, 1099511627776]"}) {
    const std::string json =
        R"({"w": {"dtype": "F32", "shape": )" + shape + R"(, "data_offsets": [0, 0]}})";
    std::string bytes(8, '\0');
    const uint64_t n = json.size();
    std::memcpy(bytes.data(), &n, 8);
    bytes += json;
    auto file = SafetensorsFile::Parse(bytes, "hostile.safetensors");
    ASSERT_FALSE(file.ok()) << shape;
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(file.status().message().find("more elements than the data section"),
              std::string::npos)
        << file.status();
  }
  // A zero dimension makes the tensor empty however large the others are.
  const std::string json =
      R"({"w": {"dtype": "F32", "shape": [1099511627776, 1099511627776, 0], )"
      R"("data_offsets": [0, 0]}})";
  std::string bytes(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += json;
  auto file = SafetensorsFile::Parse(bytes, "empty.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->Find("w")->numel(), 0);
  // Copying it needs no buffer (memcpy with a null pointer was undefined even for 0 bytes).
  EXPECT_TRUE(file->CopyF32("w", {1099511627776, 1099511627776, 0}, nullptr).ok());
}

// An independent reader in Python (json + struct only, as a user without our code would
// write it) opens the file and checks the layout rules of the format.
TEST(SafetensorsTest, PythonReaderOpensTheFile) {
  if (std::system("python3 -c 'import json, struct' > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3 not available";
  }
  const std::string dir = testing::MakeTempDir("st");
  ASSERT_TRUE(SampleWriter().WriteAtomically(dir + "/a.safetensors").ok());
  testing::WriteText(dir + "/read.py", R"(import json, struct, sys
data = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', data[:8])
header = json.loads(data[8:8 + n])
body = data[8 + n:]
meta = header.pop('__metadata__')
assert meta['format'] == 'test', meta
end = 0
for name, t in sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0]):
    b, e = t['data_offsets']
    assert b == end, (name, b, end)
    end = e
assert end == len(body), (end, len(body))
w = header['layer.weight']
vals = struct.unpack('<6f', body[w['data_offsets'][0]:w['data_offsets'][1]])
assert w['dtype'] == 'F32' and w['shape'] == [2, 3] and vals[2] == 3.5, (w, vals)
s = header['trainer.step']
assert struct.unpack('<q', body[s['data_offsets'][0]:s['data_offsets'][1]])[0] == 42
print('ok')
)");
  const std::string cmd = "python3 " + dir + "/read.py " + dir + "/a.safetensors";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

}  // namespace
}  // namespace sparsescale::trainer

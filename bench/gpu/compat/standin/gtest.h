// Stand-in for GoogleTest (GPU-only builds on machines without libgtest-dev). It runs the
// subset sparsescale's GPU tests use: TEST, TEST_F, EXPECT_/ASSERT_ comparisons, EXPECT_NEAR,
// GTEST_SKIP, streamed messages, --gtest_list_tests and --gtest_filter (so CMake's
// gtest_discover_tests works), and prints "N passed, N failed, N skipped" at the end.
// Not thread-safe: tests run one after another on the main thread.
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

namespace testing {

class Test {
 public:
  virtual ~Test() = default;
  virtual void SetUp() {}
  virtual void TearDown() {}
  virtual void TestBody() = 0;
};

class Message {
 public:
  template <typename T>
  Message& operator<<(const T& value) {
    out_ << value;
    return *this;
  }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

void InitGoogleTest(int* argc, char** argv);
int RunAllTests();

namespace internal {

// Registers a test; returns true so it can initialise a static.
bool Register(const char* suite, const char* name, std::function<Test*()> factory);
// Records a failure (kind 0 = non-fatal, 1 = fatal) or a skip (kind 2) of the running test.
void Report(const char* file, int line, int kind, const std::string& text);
bool CurrentSkippedOrFatal();

class Helper {
 public:
  Helper(const char* file, int line, int kind, std::string text)
      : file_(file), line_(line), kind_(kind), text_(std::move(text)) {}
  void operator=(const Message& m) const {
    std::string extra = m.str();
    Report(file_, line_, kind_, extra.empty() ? text_ : text_ + "\n" + extra);
  }

 private:
  const char* file_;
  int line_;
  int kind_;
  std::string text_;
};

template <typename T, typename = void>
struct Streamable : std::false_type {};
template <typename T>
struct Streamable<T,
                  std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};

template <typename T>
std::string Print(const T& v) {
  if constexpr (Streamable<T>::value) {
    std::ostringstream out;
    out << v;
    return out.str();
  } else {
    return "<unprintable>";
  }
}

struct Result {
  bool ok;
  std::string text;
  explicit operator bool() const { return ok; }
};

template <typename A, typename B, typename Op>
Result Compare(const char* sa, const char* sb, const char* op, const A& a, const B& b, Op f) {
  if (f(a, b)) {
    return {true, ""};
  }
  return {false, std::string("Expected: (") + sa + ") " + op + " (" + sb +
                     "), actual: " + Print(a) + " vs " + Print(b)};
}

inline Result Near(const char* sa, const char* sb, double a, double b, double tol) {
  if (std::fabs(a - b) <= tol) {
    return {true, ""};
  }
  std::ostringstream out;
  out << "The difference between " << sa << " and " << sb << " is " << std::fabs(a - b)
      << ", which exceeds " << tol << " (" << a << " vs " << b << ")";
  return {false, out.str()};
}

}  // namespace internal
}  // namespace testing

#define RUN_ALL_TESTS() ::testing::RunAllTests()

#define SS_GTEST_CLASS_(suite, name) suite##_##name##_Test
#define SS_GTEST_DEFINE_(suite, name, base)                                             \
  class SS_GTEST_CLASS_(suite, name) : public base {                                    \
   public:                                                                              \
    void TestBody() override;                                                           \
  };                                                                                    \
  [[maybe_unused]] static const bool ss_gtest_registered_##suite##_##name =             \
      ::testing::internal::Register(#suite, #name,                                      \
                                    [] { return new SS_GTEST_CLASS_(suite, name)(); }); \
  void SS_GTEST_CLASS_(suite, name)::TestBody()

#define TEST(suite, name) SS_GTEST_DEFINE_(suite, name, ::testing::Test)
#define TEST_F(fixture, name) SS_GTEST_DEFINE_(fixture, name, fixture)

#define SS_GTEST_CHECK_(result_expr, kind, ret)                                   \
  if (::testing::internal::Result ss_gtest_r_ = (result_expr)) {                  \
  } else                                                                          \
    ret ::testing::internal::Helper(__FILE__, __LINE__, kind, ss_gtest_r_.text) = \
        ::testing::Message()

#define SS_GTEST_BOOL_(cond, text, kind, ret) \
  SS_GTEST_CHECK_((::testing::internal::Result{static_cast<bool>(cond), text}), kind, ret)
#define SS_GTEST_CMP_(a, b, op, kind, ret)                                                         \
  SS_GTEST_CHECK_(::testing::internal::Compare(                                                    \
                      #a, #b, #op, (a), (b), [](const auto& x, const auto& y) { return x op y; }), \
                  kind, ret)

#define EXPECT_TRUE(c) SS_GTEST_BOOL_(c, "Expected true: " #c, 0, )
#define EXPECT_FALSE(c) SS_GTEST_BOOL_(!(c), "Expected false: " #c, 0, )
#define ASSERT_TRUE(c) SS_GTEST_BOOL_(c, "Expected true: " #c, 1, return )
#define ASSERT_FALSE(c) SS_GTEST_BOOL_(!(c), "Expected false: " #c, 1, return )
#define EXPECT_EQ(a, b) SS_GTEST_CMP_(a, b, ==, 0, )
#define EXPECT_NE(a, b) SS_GTEST_CMP_(a, b, !=, 0, )
#define EXPECT_LT(a, b) SS_GTEST_CMP_(a, b, <, 0, )
#define EXPECT_LE(a, b) SS_GTEST_CMP_(a, b, <=, 0, )
#define EXPECT_GT(a, b) SS_GTEST_CMP_(a, b, >, 0, )
#define EXPECT_GE(a, b) SS_GTEST_CMP_(a, b, >=, 0, )
#define ASSERT_EQ(a, b) SS_GTEST_CMP_(a, b, ==, 1, return )
#define ASSERT_NE(a, b) SS_GTEST_CMP_(a, b, !=, 1, return )
#define ASSERT_LT(a, b) SS_GTEST_CMP_(a, b, <, 1, return )
#define ASSERT_LE(a, b) SS_GTEST_CMP_(a, b, <=, 1, return )
#define ASSERT_GT(a, b) SS_GTEST_CMP_(a, b, >, 1, return )
#define ASSERT_GE(a, b) SS_GTEST_CMP_(a, b, >=, 1, return )
#define EXPECT_NEAR(a, b, tol) \
  SS_GTEST_CHECK_(::testing::internal::Near(#a, #b, (a), (b), (tol)), 0, )
#define ASSERT_NEAR(a, b, tol) \
  SS_GTEST_CHECK_(::testing::internal::Near(#a, #b, (a), (b), (tol)), 1, return )
#define ADD_FAILURE() \
  ::testing::internal::Helper(__FILE__, __LINE__, 0, "Failed") = ::testing::Message()
#define FAIL() \
  return ::testing::internal::Helper(__FILE__, __LINE__, 1, "Failed") = ::testing::Message()
#define SUCCEED() static_cast<void>(0)
#define GTEST_SKIP() \
  return ::testing::internal::Helper(__FILE__, __LINE__, 2, "Skipped") = ::testing::Message()

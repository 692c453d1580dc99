#include "coordinator/api/convert.h"

#include "coordinator/core/proto_convert.h"
#include "gtest/gtest.h"

namespace sparsescale::coordinator {
namespace {

TEST(ConvertTest, StatusKeepsItsCodeAndMessage) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  const grpc::Status status = ToGrpcStatus(absl::FailedPreconditionError("attempt: 2 is stale"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "attempt: 2 is stale");
  EXPECT_EQ(ToGrpcStatus(absl::AlreadyExistsError("x")).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
}

}  // namespace
}  // namespace sparsescale::coordinator

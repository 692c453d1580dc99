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

TEST(ConvertTest, LossPointSurvivesTheRoundTripThroughAStoreRow) {
  sparsescale::v1::LossPoint point;
  point.set_step(12);
  point.set_tokens(1536);
  point.set_train_loss(3.25);
  point.set_sparsity(0.5);
  point.set_lr(1e-3);
  point.set_nonzeros_paper(98304);
  point.set_nonzeros_exact(100000);
  point.set_flops_dense(1e9);
  point.set_flops_sparse(5e8);
  point.set_wall_s(0.75);
  EXPECT_EQ(PointToProto(PointFromProto(point)).SerializeAsString(), point.SerializeAsString());
  EXPECT_FALSE(PointFromProto(point).eval_loss.has_value());
  point.set_eval_loss(3.5);
  EXPECT_EQ(PointToProto(PointFromProto(point)).SerializeAsString(), point.SerializeAsString());
}

}  // namespace
}  // namespace sparsescale::coordinator

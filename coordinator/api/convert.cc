#include "coordinator/api/convert.h"

namespace sparsescale::coordinator {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) {
    return grpc::Status::OK;
  }
  // absl and gRPC use the same canonical code numbers.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

store::PointRow PointFromProto(const sparsescale::v1::LossPoint& p) {
  store::PointRow row;
  row.step = p.step();
  row.tokens = p.tokens();
  row.train_loss = p.train_loss();
  if (p.has_eval_loss()) {
    row.eval_loss = p.eval_loss();
  }
  row.sparsity = p.sparsity();
  row.lr = p.lr();
  row.nonzeros_paper = p.nonzeros_paper();
  row.nonzeros_exact = p.nonzeros_exact();
  row.flops_dense = p.flops_dense();
  row.flops_sparse = p.flops_sparse();
  row.wall_s = p.wall_s();
  return row;
}

}  // namespace sparsescale::coordinator

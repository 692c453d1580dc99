#include "kernels/comm_factory.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"

#ifdef SPARSESCALE_HAVE_CUDA
#include "kernels/cuda/nccl_comm.h"
#endif

namespace sparsescale::kernels {

absl::StatusOr<std::string> BroadcastString(Communicator& host_comm, const std::string& value) {
  // Every byte travels as a float (exact for 0..255); the others contribute zeros, so the sum is
  // rank 0's bytes. First the length, then the bytes: only rank 0 knows the length.
  const bool root = host_comm.rank() == 0;
  float length = root ? static_cast<float>(value.size()) : 0.0f;
  if (root && value.size() > (size_t{1} << 24)) {
    return absl::InvalidArgumentError("BroadcastString: value over 16 MiB");
  }
  RETURN_IF_ERROR(host_comm.AllReduceSum(&length, 1));
  std::vector<float> bytes(static_cast<size_t>(length), 0.0f);
  if (root) {
    for (size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] = static_cast<float>(static_cast<unsigned char>(value[i]));
    }
  }
  RETURN_IF_ERROR(host_comm.AllReduceSum(bytes.data(), bytes.size()));
  std::string out(bytes.size(), '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[i] = static_cast<char>(static_cast<unsigned char>(bytes[i]));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Communicator>> MakeCommunicator(Ops& ops, const CommConfig& config,
                                                               const TcpCommOptions& options) {
  if (ops.name() == "cpu" || config.world_size == 1) {
    return ConnectTcpCommunicator(config, options);
  }
#ifdef SPARSESCALE_HAVE_CUDA
  if (ops.name() == "cuda") {
    std::string id;
    if (config.rank == 0) {
      ASSIGN_OR_RETURN(id, cuda::MakeNcclUniqueId());
    }
    if (config.exchange) {
      // The outside service carries the id itself: no TCP ring is needed just for 128 bytes.
      absl::StatusOr<std::string> carried = config.exchange(id);
      if (!carried.ok()) {
        return absl::Status(
            carried.status().code(),
            absl::StrCat("rendezvous exchange (rank ", config.rank, " of ", config.world_size,
                         ", NCCL unique id): ", carried.status().message()));
      }
      id = std::move(*carried);
    } else {
      ASSIGN_OR_RETURN(std::unique_ptr<Communicator> tcp, ConnectTcpCommunicator(config, options));
      ASSIGN_OR_RETURN(id, BroadcastString(*tcp, id));
    }
    return cuda::MakeNcclCommunicator(ops, id, config.rank, config.world_size);
  }
#endif
  return absl::UnimplementedError("data parallelism: no communicator for the " + ops.name() +
                                  " backend");
}

}  // namespace sparsescale::kernels

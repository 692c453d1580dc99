// The api side of datasets (ClientService upload/list/get/delete, WorkerService manifest and
// chunk download; store in coordinator/store/store_datasets.h): request validation naming the
// field (validate.h, validate_datasets.cc), store rows -> v1::Dataset, the chunk download stream, and resolving a JobSpec's
// data.dataset name to the dataset's hash at submission. Thread-safety: pure functions and
// reactors owned by gRPC; thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/status.h"
#include "coordinator/api/validate.h"
#include "coordinator/core/core.h"
#include "coordinator/store/store_datasets.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::coordinator {


std::vector<store::DatasetFileRow> FilesFromProto(const v1::CommitDatasetRequest& r);
void DatasetToProto(const store::DatasetRow& row, v1::Dataset* out);

// When spec->data().dataset() names a dataset (by name or hash), replaces it by the hash of
// that ready dataset, read on the read pool, then calls done. InvalidArgument naming
// `field` when there is no such ready dataset. Done at once when the spec names none.
void ResolveDataset(CoordinatorCore* core, v1::JobSpec* spec, std::string field,
                    CoordinatorCore::Done done);

// WorkerService.DownloadChunks: the asked chunks of a ready dataset, in order, each read on
// the read pool (straight into the outgoing message) while the previous one is being sent.
grpc::ServerWriteReactor<v1::DatasetChunk>* NewChunkDownloadReactor(
    CoordinatorCore* core, const v1::DownloadChunksRequest* request);

}  // namespace sparsescale::coordinator

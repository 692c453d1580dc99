#include "worker/trainer/checkpoint.h"

#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "spec/job_spec.h"
#include "worker/trainer/safetensors.h"

namespace sparsescale::trainer {
namespace {

std::string ExactDouble(double x) { return absl::StrFormat("%.17g", x); }

absl::StatusOr<std::vector<float>> ToHost(kernels::Ops* ops, const float* device, size_t n) {
  std::vector<float> host(n);
  RETURN_IF_ERROR(ops->CopyToHost(host.data(), device, n * sizeof(float)));
  return host;
}

absl::StatusOr<double> MetadataDouble(const SafetensorsFile& file, const std::string& key,
                                      const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, file.Metadata(key));
  double value = 0;
  if (!absl::SimpleAtod(text, &value)) {
    return absl::InvalidArgumentError(path + ": metadata \"" + key + "\" is not a number");
  }
  return value;
}

absl::StatusOr<int64_t> ScalarI64(const SafetensorsFile& file, const std::string& name,
                                  int64_t index, const std::string& path) {
  const TensorView* view = file.Find(name);
  if (view == nullptr || view->dtype != DType::kI64 || view->numel() <= index) {
    return absl::InvalidArgumentError(path + ": tensor \"" + name + "\" is missing or malformed");
  }
  int64_t value = 0;
  std::memcpy(&value, view->data + index * 8, 8);
  return value;
}

// Copies one F32 tensor per parameter (named prefix + name) into a device buffer.
absl::Status RestoreTensors(const SafetensorsFile& file, const std::string& prefix,
                            kernels::Ops* ops, const ParamLayout& layout, bool masks_only,
                            float* device, size_t total) {
  std::vector<float> host(total);
  for (const ParamTensor& t : layout.tensors()) {
    if (masks_only && !t.maskable) {
      continue;
    }
    const size_t offset = masks_only ? t.mask_offset : t.offset;
    RETURN_IF_ERROR(file.CopyF32(prefix + t.name, t.shape(), host.data() + offset));
  }
  return ops->CopyToDevice(device, host.data(), total * sizeof(float));
}

absl::StatusOr<sparsescale::v1::JobSpec> SpecOf(const SafetensorsFile& file,
                                                const std::string& path) {
  auto format = file.Metadata("format");
  if (!format.ok() || *format != kCheckpointFormat) {
    return absl::InvalidArgumentError(path + ": not a sparsescale checkpoint (metadata format \"" +
                                      (format.ok() ? *format : std::string()) + "\", expected \"" +
                                      kCheckpointFormat + "\")");
  }
  ASSIGN_OR_RETURN(std::string json, file.Metadata("job_spec"));
  auto spec = spec::ParseJobSpecJson(json);
  if (!spec.ok()) {
    return absl::InvalidArgumentError(
        path + ": metadata job_spec: " + std::string(spec.status().message()));
  }
  return spec;
}

}  // namespace

absl::Status WriteCheckpoint(const std::string& path, const sparsescale::v1::JobSpec& spec,
                             kernels::Ops* ops, const ParamLayout& layout,
                             const StateBuffers& state, const CheckpointScalars& s) {
  ASSIGN_OR_RETURN(std::vector<float> params, ToHost(ops, state.params, layout.num_params()));
  ASSIGN_OR_RETURN(std::vector<float> masks, ToHost(ops, state.masks, layout.num_mask()));
  ASSIGN_OR_RETURN(std::vector<float> m, ToHost(ops, state.m, layout.num_params()));
  ASSIGN_OR_RETURN(std::vector<float> v, ToHost(ops, state.v, layout.num_params()));
  SafetensorsWriter writer;
  for (const ParamTensor& t : layout.tensors()) {
    writer.AddF32(t.name, t.shape(), params.data() + t.offset);
  }
  for (const ParamTensor& t : layout.tensors()) {
    if (t.maskable) {
      writer.AddF32("mask." + t.name, t.shape(), masks.data() + t.mask_offset);
    }
  }
  for (const ParamTensor& t : layout.tensors()) {
    writer.AddF32("optim.m." + t.name, t.shape(), m.data() + t.offset);
    writer.AddF32("optim.v." + t.name, t.shape(), v.data() + t.offset);
  }
  const int64_t step = s.step;
  const int64_t tokens = s.tokens;
  const int64_t rng[2] = {static_cast<int64_t>(s.seed), s.step * int64_t{spec.data().batch_size()}};
  writer.AddI64("trainer.step", {1}, &step);
  writer.AddI64("trainer.tokens", {1}, &tokens);
  writer.AddI64("trainer.rng", {2}, rng);
  writer.SetMetadata("format", kCheckpointFormat);
  writer.SetMetadata("step", absl::StrCat(s.step));
  writer.SetMetadata("tokens", absl::StrCat(s.tokens));
  writer.SetMetadata("job_spec", spec::JobSpecToJson(spec));
  writer.SetMetadata("job_hash", spec::CanonicalJobSpecHash(spec));
  writer.SetMetadata("flops_dense", ExactDouble(s.flops_dense));
  writer.SetMetadata("flops_sparse", ExactDouble(s.flops_sparse));
  writer.SetMetadata("wall_s", ExactDouble(s.wall_s));
  writer.SetMetadata("sparsity", ExactDouble(s.sparsity));
  writer.SetMetadata("backend", ops->name());
  return writer.WriteAtomically(path);
}

absl::StatusOr<CheckpointScalars> ReadCheckpoint(const std::string& path,
                                                 const sparsescale::v1::JobSpec& spec,
                                                 kernels::Ops* ops, const ParamLayout& layout,
                                                 const StateBuffers& state) {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Read(path));
  ASSIGN_OR_RETURN(sparsescale::v1::JobSpec saved, SpecOf(file, path));
  if (spec::CanonicalJobSpecHash(saved) != spec::CanonicalJobSpecHash(spec)) {
    return absl::InvalidArgumentError(
        path +
        ": checkpoint belongs to a different job (its job_spec differs from the config "
        "in model, data, optimiser, pruning or seed)");
  }
  RETURN_IF_ERROR(RestoreTensors(file, "", ops, layout, false, state.params, layout.num_params()));
  RETURN_IF_ERROR(RestoreTensors(file, "mask.", ops, layout, true, state.masks, layout.num_mask()));
  RETURN_IF_ERROR(
      RestoreTensors(file, "optim.m.", ops, layout, false, state.m, layout.num_params()));
  RETURN_IF_ERROR(
      RestoreTensors(file, "optim.v.", ops, layout, false, state.v, layout.num_params()));
  CheckpointScalars s;
  ASSIGN_OR_RETURN(s.step, ScalarI64(file, "trainer.step", 0, path));
  ASSIGN_OR_RETURN(s.tokens, ScalarI64(file, "trainer.tokens", 0, path));
  ASSIGN_OR_RETURN(int64_t seed_bits, ScalarI64(file, "trainer.rng", 0, path));
  s.seed = static_cast<uint64_t>(seed_bits);
  ASSIGN_OR_RETURN(s.flops_dense, MetadataDouble(file, "flops_dense", path));
  ASSIGN_OR_RETURN(s.flops_sparse, MetadataDouble(file, "flops_sparse", path));
  ASSIGN_OR_RETURN(s.wall_s, MetadataDouble(file, "wall_s", path));
  ASSIGN_OR_RETURN(s.sparsity, MetadataDouble(file, "sparsity", path));
  if (s.step < 0 || s.seed != spec.seed()) {
    return absl::InvalidArgumentError(path + ": inconsistent trainer.step or trainer.rng");
  }
  return s;
}

absl::StatusOr<sparsescale::v1::JobSpec> ReadCheckpointJobSpec(const std::string& path) {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::ReadHeader(path));
  return SpecOf(file, path);
}

absl::Status LoadWeights(const std::string& path, kernels::Ops* ops, const ParamLayout& layout,
                         float* params) {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Read(path));
  return RestoreTensors(file, "", ops, layout, false, params, layout.num_params());
}

}  // namespace sparsescale::trainer

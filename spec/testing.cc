#include "spec/testing.h"

#include <algorithm>

namespace sparsescale::spec::testing {

sparsescale::v1::JobSpec TinySpec(const std::string& shard, int64_t steps) {
  sparsescale::v1::JobSpec spec;
  spec.set_name("tiny");
  auto* m = spec.mutable_model();
  m->set_layers(2);
  m->set_width(32);
  m->set_heads(2);
  m->set_context(16);
  auto* d = spec.mutable_data();
  d->add_train_shards(shard);
  d->set_batch_size(4);
  d->set_tokens(steps * 4 * 16);
  d->set_eval_batches(2);
  d->set_eval_interval_steps(static_cast<int32_t>(std::max<int64_t>(1, steps / 4)));
  spec.mutable_optim()->set_lr(3e-3);
  spec.mutable_checkpoint()->set_interval_steps(
      static_cast<int32_t>(std::max<int64_t>(1, steps / 2)));
  spec.mutable_checkpoint()->set_keep_last(0);
  spec.set_seed(7);
  spec.set_device("cpu");
  spec.set_threads(1);
  return spec;
}

sparsescale::v1::LossPoint FullLossPoint() {
  sparsescale::v1::LossPoint p;
  p.set_step(12);
  p.set_tokens(1536);
  p.set_train_loss(3.141592653589793);
  p.set_eval_loss(0.1 + 0.2);
  p.set_sparsity(0.875);
  p.set_lr(1.2345678901234567e-4);
  p.set_nonzeros_paper(98304);
  p.set_nonzeros_exact(123457);
  p.set_flops_dense(1.5e15);
  p.set_flops_sparse(7.25e14);
  p.set_wall_s(12.5);
  return p;
}

}  // namespace sparsescale::spec::testing

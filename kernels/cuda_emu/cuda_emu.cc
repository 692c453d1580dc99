#include "kernels/cuda_emu/cuda_emu.h"

#include <ucontext.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SPARSESCALE_EMU_ASAN 1
#endif

namespace sparsescale::kernels::cuda_emu {
namespace {

// wmma fragments hold whole tiles (1 KiB each): the deepest kernel frame (the tensor-core key
// kernel at HS 128) needs about 30 KiB. ASan clears the shadow of the whole target stack at every
// switch, so a bigger stack costs time there.
constexpr size_t kStackBytes = 128 * 1024;

enum class State { kRunnable, kWarpWait, kBlockWait, kDone };

struct Fiber {
  ucontext_t ctx;
  std::unique_ptr<char[]> stack;
  State state = State::kRunnable;
  void* fake_stack = nullptr;  // ASan's bookkeeping across switches
};

// One block's run: the fibers, the scheduler's context and the block's shared state.
struct Block {
  Dim3 grid, block_idx;
  int threads = 0;
  std::vector<Fiber>* fibers = nullptr;
  const std::function<void()>* kernel = nullptr;
  unsigned char* smem = nullptr;
  std::vector<float> exchange;  // shuffle slots, one per thread
  int current = -1;
  ucontext_t scheduler;
  const void* scheduler_stack_bottom = nullptr;
  size_t scheduler_stack_size = 0;
  std::string error;
};

Block* g_block = nullptr;  // the block being run (Launch is not reentrant)

Block& Current() {
  if (g_block == nullptr || g_block->current < 0) {
    std::abort();  // a device function called outside Launch: a test bug, not recoverable
  }
  return *g_block;
}

// Switches from the running fiber back to the scheduler; returns when the scheduler resumes it.
void YieldToScheduler(State state) {
  Block& b = Current();
  Fiber& f = (*b.fibers)[static_cast<size_t>(b.current)];
  f.state = state;
#ifdef SPARSESCALE_EMU_ASAN
  __sanitizer_start_switch_fiber(state == State::kDone ? nullptr : &f.fake_stack,
                                 b.scheduler_stack_bottom, b.scheduler_stack_size);
#endif
  swapcontext(&f.ctx, &b.scheduler);
#ifdef SPARSESCALE_EMU_ASAN
  __sanitizer_finish_switch_fiber(f.fake_stack, &b.scheduler_stack_bottom,
                                  &b.scheduler_stack_size);
#endif
}

void FiberMain() {
#ifdef SPARSESCALE_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_block->scheduler_stack_bottom,
                                  &g_block->scheduler_stack_size);
#endif
  (*g_block->kernel)();
  YieldToScheduler(State::kDone);
  std::abort();  // a finished fiber is never resumed
}

// Resumes fiber `i` until it reaches a barrier or finishes.
void Resume(Block& b, int i) {
  Fiber& f = (*b.fibers)[static_cast<size_t>(i)];
  b.current = i;
  void* scheduler_fake = nullptr;
#ifdef SPARSESCALE_EMU_ASAN
  __sanitizer_start_switch_fiber(&scheduler_fake, f.stack.get(), kStackBytes);
#endif
  swapcontext(&b.scheduler, &f.ctx);
#ifdef SPARSESCALE_EMU_ASAN
  __sanitizer_finish_switch_fiber(scheduler_fake, nullptr, nullptr);
#endif
  (void)scheduler_fake;
  b.current = -1;
}

std::string Where(const Block& b, int thread) {
  return "block (" + std::to_string(b.block_idx.x) + ", " + std::to_string(b.block_idx.y) +
         ") thread " + std::to_string(thread);
}

// Its own frame: getcontext returns twice, which may clobber a caller's loop variables.
__attribute__((noinline)) void InitFiber(Fiber& f) {
  f.state = State::kRunnable;
  f.fake_stack = nullptr;
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack.get();
  f.ctx.uc_stack.ss_size = kStackBytes;
  f.ctx.uc_link = nullptr;
  makecontext(&f.ctx, &FiberMain, 0);
}

absl::Status RunBlock(Block& b) {
  std::vector<Fiber>& fibers = *b.fibers;  // the pool: the first b.threads are this block's
  for (int i = 0; i < b.threads; ++i) {
    InitFiber(fibers[static_cast<size_t>(i)]);
  }
  while (true) {
    for (int i = 0; i < b.threads; ++i) {
      if (fibers[static_cast<size_t>(i)].state == State::kRunnable) {
        Resume(b, i);
        if (!b.error.empty()) {
          return absl::InternalError(Where(b, i) + ": " + b.error);
        }
      }
    }
    // Every fiber now waits at a barrier or is done: release the barriers all of whose
    // threads have arrived.
    int done = 0, block_waiting = 0;
    for (int i = 0; i < b.threads; ++i) {
      const State st = fibers[static_cast<size_t>(i)].state;
      done += st == State::kDone;
      block_waiting += st == State::kBlockWait;
    }
    if (done == b.threads) {
      return absl::OkStatus();
    }
    bool released = false;
    if (block_waiting == b.threads) {
      for (int i = 0; i < b.threads; ++i) {
        fibers[static_cast<size_t>(i)].state = State::kRunnable;
      }
      released = true;
    }
    for (int w = 0; w * 32 < b.threads && !released; ++w) {
      const int lanes = std::min(32, b.threads - w * 32);  // the last warp may be partial
      int warp_waiting = 0;
      for (int l = 0; l < lanes; ++l) {
        warp_waiting += fibers[static_cast<size_t>(w * 32 + l)].state == State::kWarpWait;
      }
      if (warp_waiting == lanes) {
        for (int l = 0; l < lanes; ++l) {
          fibers[static_cast<size_t>(w * 32 + l)].state = State::kRunnable;
        }
        released = true;
      }
    }
    if (!released) {
      std::string states;
      for (int i = 0; i < b.threads; i += 32) {
        const State s = fibers[static_cast<size_t>(i)].state;
        states += " warp " + std::to_string(i / 32) + " lane 0: " +
                  (s == State::kDone        ? "exited"
                   : s == State::kBlockWait ? "at __syncthreads"
                                            : "at a warp barrier");
      }
      return absl::InternalError(Where(b, 0) + ": barrier deadlock (" + std::to_string(done) +
                                 " threads exited, " + std::to_string(block_waiting) +
                                 " at __syncthreads;" + states + ")");
    }
  }
}

}  // namespace

absl::Status Launch(Dim3 grid, int threads, size_t smem_bytes,
                    const std::function<void()>& kernel) {
  if (threads <= 0 || threads > 1024) {
    return absl::InvalidArgumentError("Launch: threads must be in [1, 1024], got " +
                                      std::to_string(threads));
  }
  if (grid.x == 0 || grid.y == 0 || grid.z != 1) {
    return absl::InvalidArgumentError("Launch: grid must be x >= 1, y >= 1, z == 1, got (" +
                                      std::to_string(grid.x) + ", " + std::to_string(grid.y) +
                                      ", " + std::to_string(grid.z) + ")");
  }
  if (g_block != nullptr) {
    return absl::FailedPreconditionError("Launch: another launch is running");
  }
  // Fibers and their stacks are kept for the next launch. The stacks are not zeroed, so the
  // pages a kernel never touches are never committed.
  static std::vector<Fiber> pool;
  while (pool.size() < static_cast<size_t>(threads)) {
    pool.emplace_back();
    pool.back().stack.reset(new char[kStackBytes]);
  }
  for (unsigned by = 0; by < grid.y; ++by) {
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      // Exactly smem_bytes, 128-byte aligned like the device's, and not zero: CUDA shared
      // memory starts undefined.
      const size_t alloc = smem_bytes == 0 ? 128 : (smem_bytes + 127) / 128 * 128;
      std::unique_ptr<unsigned char, decltype(&std::free)> smem(
          static_cast<unsigned char*>(std::aligned_alloc(128, alloc)), &std::free);
      std::memset(smem.get(), 0xFF, alloc);
      Block b;
      b.grid = grid;
      b.block_idx = Dim3{bx, by, 1};
      b.threads = threads;
      b.fibers = &pool;
      b.kernel = &kernel;
      b.smem = smem.get();
      b.exchange.assign(static_cast<size_t>(threads), 0.0f);
      g_block = &b;
      const absl::Status status = RunBlock(b);
      g_block = nullptr;
      if (!status.ok()) {
        return status;
      }
    }
  }
  return absl::OkStatus();
}

Dim3 ThreadIdx() { return Dim3{static_cast<unsigned>(Current().current), 0, 0}; }
Dim3 BlockIdx() { return Current().block_idx; }
Dim3 GridDim() { return Current().grid; }
Dim3 BlockDim() { return Dim3{static_cast<unsigned>(Current().threads), 1, 1}; }
unsigned char* DynamicSmem() { return Current().smem; }

void SyncThreads() { YieldToScheduler(State::kBlockWait); }
void SyncWarp() { YieldToScheduler(State::kWarpWait); }

namespace {

// Every lane publishes `value`, then reads lane `lane` of its warp.
float Exchange(float value, int lane, const char* what) {
  Block& b = Current();
  const int me = b.current;
  b.exchange[static_cast<size_t>(me)] = value;
  SyncWarp();
  const int source = me - me % 32 + lane;
  if (source >= b.threads) {
    Fail("%s: lane %d reads lane %d, which does not exist", what, me % 32, lane);
  }
  const float other = b.exchange[static_cast<size_t>(source)];
  SyncWarp();  // nobody overwrites a slot before every lane has read it
  return other;
}

}  // namespace

float ShflXor(float value, int lane_mask) {
  return Exchange(value, (Current().current % 32) ^ (lane_mask & 31), "__shfl_xor_sync");
}

float Shfl(float value, int src_lane) { return Exchange(value, src_lane & 31, "__shfl_sync"); }

unsigned Ballot(bool predicate) {
  Block& b = Current();
  const int me = b.current;
  b.exchange[static_cast<size_t>(me)] = predicate ? 1.0f : 0.0f;
  SyncWarp();
  const int first = me - me % 32;
  const int lanes = std::min(32, b.threads - first);
  unsigned bits = 0;
  for (int l = 0; l < lanes; ++l) {
    bits |= b.exchange[static_cast<size_t>(first + l)] != 0.0f ? 1u << l : 0u;
  }
  SyncWarp();
  return bits;
}

void Fail(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  Current().error = buffer;
  YieldToScheduler(State::kDone);
  std::abort();  // never resumed
}

}  // namespace sparsescale::kernels::cuda_emu

// OpenBLAS, BLIS and oneDNN through dlopen: each library keeps its own symbols (RTLD_LOCAL),
// and each reports which kernel configuration it picked for this CPU.
#include <dlfcn.h>
#include <omp.h>

#include <cstdint>
#include <string>

#include "bench/kernels/gemm_providers.h"

namespace sparsescale::bench {
namespace {

void* Open(const char* soname, std::string& note) {
  void* handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    note = std::string("dlopen failed: ") + dlerror();
  }
  return handle;
}

template <typename Fn>
Fn Symbol(void* handle, const char* name) {
  return reinterpret_cast<Fn>(dlsym(handle, name));
}

// CBLAS enum values (cblas.h): row-major 101, no-trans 111, trans 112.
constexpr int kCblasRowMajor = 101;
int CblasTrans(bool t) { return t ? 112 : 111; }

// BLIS trans_t: BLIS_NO_TRANSPOSE = 0, BLIS_TRANSPOSE = BLIS_BITVAL_TRANS = 0x08.
int BlisTrans(bool t) { return t ? 0x08 : 0x0; }

// dnnl_cpu_isa_t values (dnnl_types.h).
const char* IsaName(int isa) {
  switch (isa) {
    case 0x1:
      return "sse41";
    case 0x3:
      return "avx";
    case 0x7:
      return "avx2";
    case 0x27:
      return "avx512_core";
    case 0x67:
      return "avx512_core_vnni";
    case 0xe7:
      return "avx512_core_bf16";
    case 0x3e7:
      return "avx512_core_amx";
    case 0x407:
      return "avx2_vnni";
    default:
      return "unknown";
  }
}

}  // namespace

GemmProvider MakeOpenBlasProvider(int threads) {
  GemmProvider p{"openblas", nullptr, ""};
  void* h = Open("libopenblas.so.0", p.note);
  if (h == nullptr) {
    return p;
  }
  using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                           int, float, float*, int);
  auto sgemm = Symbol<SgemmFn>(h, "cblas_sgemm");
  auto set_threads = Symbol<void (*)(int)>(h, "openblas_set_num_threads");
  auto corename = Symbol<char* (*)()>(h, "openblas_get_corename");
  auto config = Symbol<char* (*)()>(h, "openblas_get_config");
  if (sgemm == nullptr || set_threads == nullptr) {
    p.note = "symbols missing";
    return p;
  }
  set_threads(threads);
  p.note = std::string("core ") + (corename ? corename() : "?") + "; " + (config ? config() : "");
  p.gemm = [sgemm](bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc) {
    sgemm(kCblasRowMajor, CblasTrans(ta), CblasTrans(tb), M, N, K, alpha, A, lda, B, ldb, beta, C,
          ldc);
  };
  return p;
}

GemmProvider MakeBlisProvider(int threads) {
  GemmProvider p{"blis", nullptr, ""};
  void* h = Open("libblis.so.4", p.note);
  if (h == nullptr) {
    return p;
  }
  using SgemmFn = void (*)(int, int, int64_t, int64_t, int64_t, float*, float*, int64_t, int64_t,
                           float*, int64_t, int64_t, float*, float*, int64_t, int64_t);
  auto sgemm = Symbol<SgemmFn>(h, "bli_sgemm");
  auto set_threads = Symbol<void (*)(int64_t)>(h, "bli_thread_set_num_threads");
  auto arch_id = Symbol<int (*)()>(h, "bli_arch_query_id");
  auto arch_string = Symbol<char* (*)(int)>(h, "bli_arch_string");
  if (sgemm == nullptr || set_threads == nullptr) {
    p.note = "symbols missing";
    return p;
  }
  set_threads(threads);
  p.note = std::string("kernel config ") + (arch_id && arch_string ? arch_string(arch_id()) : "?");
  p.gemm = [sgemm](bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc) {
    // Row-major is general stride (row stride ld, column stride 1); the transpose is a flag.
    sgemm(BlisTrans(ta), BlisTrans(tb), M, N, K, &alpha, const_cast<float*>(A), lda, 1,
          const_cast<float*>(B), ldb, 1, &beta, C, ldc, 1);
  };
  return p;
}

GemmProvider MakeOneDnnProvider(int threads) {
  GemmProvider p{"onednn", nullptr, ""};
  void* h = Open("libdnnl.so.2", p.note);
  if (h == nullptr) {
    return p;
  }
  using SgemmFn = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
  auto sgemm = Symbol<SgemmFn>(h, "dnnl_sgemm");
  auto isa = Symbol<int (*)()>(h, "dnnl_get_effective_cpu_isa");
  if (sgemm == nullptr) {
    p.note = "symbols missing";
    return p;
  }
  p.note = std::string("max ISA ") + IsaName(isa ? isa() : -1) + ", OpenMP, " +
           std::to_string(threads) + " thread(s)";
  // oneDNN runs omp_get_max_threads() OpenMP threads: pin that to `threads` on every call.
  p.gemm = [sgemm, threads](bool ta, bool tb, int M, int N, int K, float alpha, const float* A,
                            int lda, const float* B, int ldb, float beta, float* C, int ldc) {
    omp_set_num_threads(threads);
    sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  };
  return p;
}

}  // namespace sparsescale::bench

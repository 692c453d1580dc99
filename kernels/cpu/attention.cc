// Causal multi-head attention as matrix products per (batch, head), llm.c's math:
//   S = scale * Q K^T, P = causal softmax(S) (saved in att), O = P V;
//   dP = dO V^T, dS = P * (dP - rowsum(P * dP)), dQ += scale dS K, dK += scale dS^T Q,
//   dV += P^T dO.
// Q, K, V and O are strided views into qkv / out, so nothing is copied and nothing is
// allocated: att and datt (both [B, NH, T, T]) are the only scratch. Rows go in blocks of
// kRowBlock queries, and a block's products stop at its last key, which skips most of the
// masked upper triangle (T = 256: 62% of the full square's work).
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/fast_math.h"

namespace sparsescale::kernels::cpu {
namespace {

constexpr int kRowBlock = 64;

// In-place softmax of rows [t0, t1) of s ([T, T]) over columns [0, t]; the columns above the
// diagonal become 0.
SS_CPU_CLONES void CausalSoftmaxRows(float* s, int T, int t0, int t1) {
  for (int t = t0; t < t1; ++t) {
    float* row = s + static_cast<size_t>(t) * T;
    float maxv = row[0];
#pragma omp simd reduction(max : maxv)
    for (int j = 0; j <= t; ++j) {
      maxv = row[j] > maxv ? row[j] : maxv;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j <= t; ++j) {
      row[j] = ExpF(row[j] - maxv);
      sum += row[j];
    }
    const float inv = 1.0f / sum;
    for (int j = 0; j <= t; ++j) {
      row[j] *= inv;
    }
    for (int j = t + 1; j < T; ++j) {
      row[j] = 0.0f;
    }
  }
}

// dP -> dS in place for rows [t0, t1): dS[t, j] = P[t, j] * (dP[t, j] - sum_k P[t, k] dP[t, k])
// for j <= t, and 0 for t < j < t1 (the block's products read columns up to t1).
SS_CPU_CLONES void SoftmaxBackwardRows(float* dp, const float* p, int T, int t0, int t1) {
  for (int t = t0; t < t1; ++t) {
    float* d = dp + static_cast<size_t>(t) * T;
    const float* pr = p + static_cast<size_t>(t) * T;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int j = 0; j <= t; ++j) {
      dot += pr[j] * d[j];
    }
    for (int j = 0; j <= t; ++j) {
      d[j] = pr[j] * (d[j] - dot);
    }
    for (int j = t + 1; j < t1; ++j) {
      d[j] = 0.0f;
    }
  }
}

struct HeadView {
  const float* q;
  const float* k;
  const float* v;
  size_t att_offset;  // into att / datt
  size_t out_offset;  // into out / dout
  size_t qkv_offset;  // of q within qkv / dqkv
};

HeadView View(const float* qkv, const AttentionShape& s, int b, int h) {
  const int C = s.NH * s.HS;
  const size_t qkv_offset = static_cast<size_t>(b) * s.T * 3 * C + static_cast<size_t>(h) * s.HS;
  return HeadView{qkv + qkv_offset,
                  qkv + qkv_offset + C,
                  qkv + qkv_offset + 2 * C,
                  (static_cast<size_t>(b) * s.NH + h) * s.T * s.T,
                  static_cast<size_t>(b) * s.T * C + static_cast<size_t>(h) * s.HS,
                  qkv_offset};
}

void ForwardHead(float* out, float* att, const float* qkv, const AttentionShape& s, int b, int h) {
  const int ld = 3 * s.NH * s.HS;
  const int T = s.T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.HS));
  const HeadView hv = View(qkv, s, b, h);
  float* p = att + hv.att_offset;
  float* o = out + hv.out_offset;
  for (int t0 = 0; t0 < T; t0 += kRowBlock) {
    const int t1 = std::min(T, t0 + kRowBlock), rows = t1 - t0;
    float* p_rows = p + static_cast<size_t>(t0) * T;
    const size_t q_row = static_cast<size_t>(t0) * ld;
    Gemm(false, true, rows, t1, s.HS, scale, hv.q + q_row, ld, hv.k, ld, 0.0f, p_rows, T, 1);
    CausalSoftmaxRows(p, T, t0, t1);
    Gemm(false, false, rows, s.HS, t1, 1.0f, p_rows, T, hv.v, ld, 0.0f,
         o + static_cast<size_t>(t0) * s.NH * s.HS, s.NH * s.HS, 1);
  }
}

void BackwardHead(float* dqkv, float* datt, const float* dout, const float* qkv, const float* att,
                  const AttentionShape& s, int b, int h) {
  const int C = s.NH * s.HS, ld = 3 * C;
  const int T = s.T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.HS));
  const HeadView hv = View(qkv, s, b, h);
  const float* p = att + hv.att_offset;
  const float* dy = dout + hv.out_offset;
  float* ds = datt + hv.att_offset;
  float* dq = dqkv + hv.qkv_offset;
  float* dk = dq + C;
  float* dv = dq + 2 * C;
  for (int t0 = 0; t0 < T; t0 += kRowBlock) {
    const int t1 = std::min(T, t0 + kRowBlock), rows = t1 - t0;
    const float* p_rows = p + static_cast<size_t>(t0) * T;
    float* ds_rows = ds + static_cast<size_t>(t0) * T;
    const float* dy_rows = dy + static_cast<size_t>(t0) * C;
    const size_t q_row = static_cast<size_t>(t0) * ld;
    Gemm(false, true, rows, t1, s.HS, 1.0f, dy_rows, C, hv.v, ld, 0.0f, ds_rows, T, 1);
    Gemm(true, false, t1, s.HS, rows, 1.0f, p_rows, T, dy_rows, C, 1.0f, dv, ld, 1);
    SoftmaxBackwardRows(ds, p, T, t0, t1);
    Gemm(false, false, rows, s.HS, t1, scale, ds_rows, T, hv.k, ld, 1.0f, dq + q_row, ld, 1);
    Gemm(true, false, t1, s.HS, rows, scale, ds_rows, T, hv.q + q_row, ld, 1.0f, dk, ld, 1);
  }
}

}  // namespace

// Heads are independent and write disjoint slices of out / att / dqkv, so they run in
// parallel (static schedule, one thread per head's whole computation) with identical results
// for any thread count.
void AttentionForward(float* out, float* att, const float* qkv, const AttentionShape& s,
                      int threads) {
  const int heads = s.B * s.NH;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int bh = 0; bh < heads; ++bh) {
    ForwardHead(out, att, qkv, s, bh / s.NH, bh % s.NH);
  }
}

void AttentionBackward(float* dqkv, float* datt, const float* dout, const float* qkv,
                       const float* att, const AttentionShape& s, int threads) {
  const int heads = s.B * s.NH;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int bh = 0; bh < heads; ++bh) {
    BackwardHead(dqkv, datt, dout, qkv, att, s, bh / s.NH, bh % s.NH);
  }
}

}  // namespace sparsescale::kernels::cpu

// Causal multi-head attention as matrix products per (batch, head), llm.c's math:
//   S = scale * Q K^T, P = causal softmax(S) (saved in att), O = P V;
//   dP = dO V^T, dS = P * (dP - rowsum(P * dP)), dQ += scale dS K, dK += scale dS^T Q,
//   dV += P^T dO.
// Q, K, V and O are strided views into qkv / out, so nothing is copied and nothing is
// allocated: att and datt (both [B, NH, T, T]) are the only scratch.
#include <cmath>
#include <cstddef>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/fast_math.h"

namespace sparsescale::kernels::cpu {
namespace {

// In-place softmax of row t over columns [0, t]; columns above the diagonal become 0.
void CausalSoftmaxRows(float* s, int T) {
  for (int t = 0; t < T; ++t) {
    float* row = s + static_cast<size_t>(t) * T;
    float maxv = row[0];
    for (int j = 1; j <= t; ++j) {
      maxv = row[j] > maxv ? row[j] : maxv;
    }
    float sum = 0.0f;
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

// dP -> dS in place: dS[t, j] = P[t, j] * (dP[t, j] - sum_k P[t, k] dP[t, k]), j <= t.
void SoftmaxBackwardRows(float* dp, const float* p, int T) {
  for (int t = 0; t < T; ++t) {
    float* d = dp + static_cast<size_t>(t) * T;
    const float* pr = p + static_cast<size_t>(t) * T;
    float dot = 0.0f;
    for (int j = 0; j <= t; ++j) {
      dot += pr[j] * d[j];
    }
    for (int j = 0; j <= t; ++j) {
      d[j] = pr[j] * (d[j] - dot);
    }
    for (int j = t + 1; j < T; ++j) {
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
  const int C = s.NH * s.HS;
  const int T = s.T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.HS));
  const HeadView hv = View(qkv, s, b, h);
  float* p = att + hv.att_offset;
  Gemm(false, true, T, T, s.HS, scale, hv.q, 3 * C, hv.k, 3 * C, 0.0f, p, T, 1);
  CausalSoftmaxRows(p, T);
  Gemm(false, false, T, s.HS, T, 1.0f, p, T, hv.v, 3 * C, 0.0f, out + hv.out_offset, C, 1);
}

void BackwardHead(float* dqkv, float* datt, const float* dout, const float* qkv, const float* att,
                  const AttentionShape& s, int b, int h) {
  const int C = s.NH * s.HS;
  const int T = s.T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.HS));
  const HeadView hv = View(qkv, s, b, h);
  const float* p = att + hv.att_offset;
  const float* dy = dout + hv.out_offset;
  float* ds = datt + hv.att_offset;
  float* dq = dqkv + hv.qkv_offset;
  float* dk = dq + C;
  float* dv = dq + 2 * C;
  Gemm(false, true, T, T, s.HS, 1.0f, dy, C, hv.v, 3 * C, 0.0f, ds, T, 1);
  Gemm(true, false, T, s.HS, T, 1.0f, p, T, dy, C, 1.0f, dv, 3 * C, 1);
  SoftmaxBackwardRows(ds, p, T);
  Gemm(false, false, T, s.HS, T, scale, ds, T, hv.k, 3 * C, 1.0f, dq, 3 * C, 1);
  Gemm(true, false, T, s.HS, T, scale, ds, T, hv.q, 3 * C, 1.0f, dk, 3 * C, 1);
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

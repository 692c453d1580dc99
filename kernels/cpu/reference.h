// Plain-loop reference implementations of every Ops method, templated on the scalar type so the
// tests can run them in double precision as the oracle for the fp32 backends and for finite
// differences. They follow ops.h exactly (shapes, accumulation, aliasing rules) but do no
// validation and make no attempt at speed. Stateless free functions: thread-safe.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

namespace sparsescale::kernels::reference {

// C[M,N] = alpha * op(A) @ op(B) + beta * C (row-major, leading dimensions). beta == 0 never
// reads C, as in BLAS.
template <typename T>
void Gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc) {
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      T sum = 0;
      for (int k = 0; k < K; ++k) {
        const T a =
            trans_a ? A[static_cast<size_t>(k) * lda + i] : A[static_cast<size_t>(i) * lda + k];
        const T b =
            trans_b ? B[static_cast<size_t>(j) * ldb + k] : B[static_cast<size_t>(k) * ldb + j];
        sum += a * b;
      }
      T& c = C[static_cast<size_t>(i) * ldc + j];
      c = beta == T(0) ? alpha * sum : alpha * sum + beta * c;
    }
  }
}

template <typename T>
void MatmulForward(T* out, const T* inp, const T* weight, const T* bias, int BT, int C, int OC) {
  for (int bt = 0; bt < BT; ++bt) {
    for (int o = 0; o < OC; ++o) {
      T sum = bias ? bias[o] : T(0);
      for (int c = 0; c < C; ++c) {
        sum += inp[static_cast<size_t>(bt) * C + c] * weight[static_cast<size_t>(o) * C + c];
      }
      out[static_cast<size_t>(bt) * OC + o] = sum;
    }
  }
}

template <typename T>
void MatmulBackward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                    int BT, int C, int OC) {
  for (int bt = 0; bt < BT; ++bt) {
    for (int o = 0; o < OC; ++o) {
      const T d = dout[static_cast<size_t>(bt) * OC + o];
      if (dbias) {
        dbias[o] += d;
      }
      for (int c = 0; c < C; ++c) {
        if (dinp) {
          dinp[static_cast<size_t>(bt) * C + c] += d * weight[static_cast<size_t>(o) * C + c];
        }
        dweight[static_cast<size_t>(o) * C + c] += d * inp[static_cast<size_t>(bt) * C + c];
      }
    }
  }
}

template <typename T>
void LayerNormForward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias, int N,
                      int C, T eps) {
  for (int r = 0; r < N; ++r) {
    const T* x = inp + static_cast<size_t>(r) * C;
    T m = 0;
    for (int c = 0; c < C; ++c) {
      m += x[c];
    }
    m /= C;
    T var = 0;
    for (int c = 0; c < C; ++c) {
      var += (x[c] - m) * (x[c] - m);
    }
    var /= C;
    const T s = T(1) / std::sqrt(var + eps);
    for (int c = 0; c < C; ++c) {
      out[static_cast<size_t>(r) * C + c] = (x[c] - m) * s * weight[c] + bias[c];
    }
    mean[r] = m;
    rstd[r] = s;
  }
}

template <typename T>
void LayerNormBackward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                       const T* mean, const T* rstd, int N, int C) {
  for (int r = 0; r < N; ++r) {
    const T* x = inp + static_cast<size_t>(r) * C;
    const T* dy = dout + static_cast<size_t>(r) * C;
    T dnorm_mean = 0;
    T dnorm_norm_mean = 0;
    for (int c = 0; c < C; ++c) {
      const T norm = (x[c] - mean[r]) * rstd[r];
      const T dnorm = weight[c] * dy[c];
      dnorm_mean += dnorm;
      dnorm_norm_mean += dnorm * norm;
    }
    dnorm_mean /= C;
    dnorm_norm_mean /= C;
    for (int c = 0; c < C; ++c) {
      const T norm = (x[c] - mean[r]) * rstd[r];
      const T dnorm = weight[c] * dy[c];
      dbias[c] += dy[c];
      dweight[c] += norm * dy[c];
      dinp[static_cast<size_t>(r) * C + c] +=
          (dnorm - dnorm_mean - norm * dnorm_norm_mean) * rstd[r];
    }
  }
}

// sqrt(2 / pi), GPT-2's GELU constant.
template <typename T>
constexpr T kGeluScale = T(0.7978845608028654);

template <typename T>
void GeluForward(T* out, const T* inp, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const T x = inp[i];
    out[i] = T(0.5) * x * (T(1) + std::tanh(kGeluScale<T> * (x + T(0.044715) * x * x * x)));
  }
}

template <typename T>
void GeluBackward(T* dinp, const T* inp, const T* dout, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const T x = inp[i];
    const T t = std::tanh(kGeluScale<T> * (x + T(0.044715) * x * x * x));
    const T du = kGeluScale<T> * (T(1) + T(3) * T(0.044715) * x * x);
    dinp[i] += (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du) * dout[i];
  }
}

template <typename T>
void ResidualForward(T* out, const T* a, const T* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    out[i] = a[i] + b[i];
  }
}

template <typename T>
void Accumulate(T* y, const T* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    y[i] += x[i];
  }
}

template <typename T>
void EncoderForward(T* out, const int32_t* tokens, const T* wte, const T* wpe, int B, int T_,
                    int C) {
  for (int b = 0; b < B; ++b) {
    for (int t = 0; t < T_; ++t) {
      const size_t bt = static_cast<size_t>(b) * T_ + t;
      for (int c = 0; c < C; ++c) {
        out[bt * C + c] =
            wte[static_cast<size_t>(tokens[bt]) * C + c] + wpe[static_cast<size_t>(t) * C + c];
      }
    }
  }
}

template <typename T>
void EncoderBackward(T* dwte, T* dwpe, const T* dout, const int32_t* tokens, int B, int T_, int C) {
  for (int b = 0; b < B; ++b) {
    for (int t = 0; t < T_; ++t) {
      const size_t bt = static_cast<size_t>(b) * T_ + t;
      for (int c = 0; c < C; ++c) {
        dwte[static_cast<size_t>(tokens[bt]) * C + c] += dout[bt * C + c];
        dwpe[static_cast<size_t>(t) * C + c] += dout[bt * C + c];
      }
    }
  }
}

// Saves the softmax probabilities in att[b, h, t, t2] (zero above the diagonal).
template <typename T>
void AttentionForward(T* out, T* att, const T* qkv, int B, int T_, int NH, int HS) {
  const int C = NH * HS;
  const T scale = T(1) / std::sqrt(T(HS));
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      for (int t = 0; t < T_; ++t) {
        const T* q = qkv + (static_cast<size_t>(b) * T_ + t) * 3 * C + h * HS;
        T* row = att + ((static_cast<size_t>(b) * NH + h) * T_ + t) * T_;
        T maxv = -INFINITY;
        for (int t2 = 0; t2 <= t; ++t2) {
          const T* k = qkv + (static_cast<size_t>(b) * T_ + t2) * 3 * C + C + h * HS;
          T dot = 0;
          for (int i = 0; i < HS; ++i) {
            dot += q[i] * k[i];
          }
          row[t2] = dot * scale;
          maxv = std::max(maxv, row[t2]);
        }
        T sum = 0;
        for (int t2 = 0; t2 <= t; ++t2) {
          row[t2] = std::exp(row[t2] - maxv);
          sum += row[t2];
        }
        for (int t2 = 0; t2 < T_; ++t2) {
          row[t2] = t2 <= t ? row[t2] / sum : T(0);
        }
        T* o = out + (static_cast<size_t>(b) * T_ + t) * C + h * HS;
        for (int i = 0; i < HS; ++i) {
          T acc = 0;
          for (int t2 = 0; t2 <= t; ++t2) {
            acc += row[t2] * qkv[(static_cast<size_t>(b) * T_ + t2) * 3 * C + 2 * C + h * HS + i];
          }
          o[i] = acc;
        }
      }
    }
  }
}

// `att` holds the probabilities saved by AttentionForward; dqkv accumulates.
template <typename T>
void AttentionBackward(T* dqkv, const T* dout, const T* qkv, const T* att, int B, int T_, int NH,
                       int HS) {
  const int C = NH * HS;
  const T scale = T(1) / std::sqrt(T(HS));
  std::vector<T> datt(T_);
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      for (int t = 0; t < T_; ++t) {
        const T* row = att + ((static_cast<size_t>(b) * NH + h) * T_ + t) * T_;
        const T* dy = dout + (static_cast<size_t>(b) * T_ + t) * C + h * HS;
        const size_t qoff = (static_cast<size_t>(b) * T_ + t) * 3 * C + h * HS;
        T weighted = 0;
        for (int t2 = 0; t2 <= t; ++t2) {
          const size_t voff = (static_cast<size_t>(b) * T_ + t2) * 3 * C + 2 * C + h * HS;
          T d = 0;
          for (int i = 0; i < HS; ++i) {
            d += dy[i] * qkv[voff + i];
            dqkv[voff + i] += row[t2] * dy[i];
          }
          datt[t2] = d;
          weighted += row[t2] * d;
        }
        for (int t2 = 0; t2 <= t; ++t2) {
          const T dpre = row[t2] * (datt[t2] - weighted) * scale;
          const size_t koff = (static_cast<size_t>(b) * T_ + t2) * 3 * C + C + h * HS;
          for (int i = 0; i < HS; ++i) {
            dqkv[qoff + i] += dpre * qkv[koff + i];
            dqkv[koff + i] += dpre * qkv[qoff + i];
          }
        }
      }
    }
  }
}

// dlogits may alias logits; padding columns [V, Vp) of dlogits are set to zero.
template <typename T>
void CrossEntropyForwardBackward(T* losses, T* dlogits, const T* logits, const int32_t* targets,
                                 int BT, int V, int Vp, T dloss_scale) {
  for (int r = 0; r < BT; ++r) {
    const T* x = logits + static_cast<size_t>(r) * Vp;
    T maxv = -INFINITY;
    for (int i = 0; i < V; ++i) {
      maxv = std::max(maxv, x[i]);
    }
    T sum = 0;
    for (int i = 0; i < V; ++i) {
      sum += std::exp(x[i] - maxv);
    }
    losses[r] = std::log(sum) + maxv - x[targets[r]];
    if (dlogits) {
      T* d = dlogits + static_cast<size_t>(r) * Vp;
      for (int i = 0; i < V; ++i) {
        const T p = std::exp(x[i] - maxv) / sum;
        d[i] = (p - (i == targets[r] ? T(1) : T(0))) * dloss_scale;
      }
      for (int i = V; i < Vp; ++i) {
        d[i] = 0;
      }
    }
  }
}

template <typename T>
void SumSquares(T* accum, const T* x, size_t n) {
  T sum = 0;
  for (size_t i = 0; i < n; ++i) {
    sum += x[i] * x[i];
  }
  *accum += sum;
}

template <typename T>
void AdamW(T* params, const T* grads, T* m, T* v, const T* mask, size_t n, T lr, T beta1, T beta2,
           T eps, T weight_decay, int64_t step, T grad_scale) {
  const T bc1 = T(1) - std::pow(beta1, T(step));
  const T bc2 = T(1) - std::pow(beta2, T(step));
  for (size_t i = 0; i < n; ++i) {
    const T g = grads[i] * grad_scale;
    m[i] = beta1 * m[i] + (T(1) - beta1) * g;
    v[i] = beta2 * v[i] + (T(1) - beta2) * g * g;
    const T mhat = m[i] / bc1;
    const T vhat = v[i] / bc2;
    params[i] -= lr * (mhat / (std::sqrt(vhat) + eps) + weight_decay * params[i]);
    if (mask && mask[i] == T(0)) {
      params[i] = m[i] = v[i] = 0;
    }
  }
}

template <typename T>
void ApplyMask(T* x, const T* mask, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    x[i] *= mask[i];
  }
}

// Indices of `idx` sorted by |w| descending, ties by lower index first.
template <typename T>
void SortByMagnitude(std::vector<size_t>& idx, const T* w) {
  std::sort(idx.begin(), idx.end(), [w](size_t a, size_t b) {
    const T wa = std::abs(w[a]);
    const T wb = std::abs(w[b]);
    return wa != wb ? wa > wb : a < b;
  });
}

template <typename T>
void MagnitudeMask(T* mask, const T* w, size_t n, size_t keep) {
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), size_t{0});
  SortByMagnitude(idx, w);
  std::fill(mask, mask + n, T(0));
  for (size_t i = 0; i < keep; ++i) {
    mask[idx[i]] = 1;
  }
}

template <typename T>
void NmMask(T* mask, const T* w, int rows, int cols, int n, int m, size_t keep) {
  const size_t total = static_cast<size_t>(rows) * cols;
  std::fill(mask, mask + total, T(0));
  size_t kept = 0;
  for (size_t g = 0; g < total; g += m) {
    std::vector<size_t> idx(m);
    std::iota(idx.begin(), idx.end(), g);
    SortByMagnitude(idx, w);
    for (int j = 0; j < n; ++j) {
      mask[idx[j]] = 1;
    }
    kept += n;
  }
  std::vector<size_t> rest;
  for (size_t i = 0; i < total; ++i) {
    if (mask[i] == T(0)) {
      rest.push_back(i);
    }
  }
  SortByMagnitude(rest, w);
  for (size_t i = 0; kept < keep; ++i, ++kept) {
    mask[rest[i]] = 1;
  }
}

template <typename T>
int64_t CountNonZero(const T* x, size_t n) {
  int64_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    count += x[i] != T(0) ? 1 : 0;
  }
  return count;
}

}  // namespace sparsescale::kernels::reference

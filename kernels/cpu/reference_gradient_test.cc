// Every backward of the double-precision reference against central finite differences of
// loss = sum(forward output * fixed random weights). The gradients start from random values,
// so the checks also prove that the backwards accumulate (+=) instead of overwriting.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <numeric>
#include <vector>

#include "kernels/cpu/reference.h"
#include "kernels/cpu/test_util.h"

namespace sparsescale::kernels {
namespace {

using testing::RandomTokens;
using testing::RandomVector;
using Vec = std::vector<double>;

constexpr double kStep = 1e-6;
constexpr double kRelTol = 1e-6;
constexpr double kAbsTol = 1e-8;

double Dot(const Vec& a, const Vec& b) {
  return std::inner_product(a.begin(), a.end(), b.begin(), 0.0);
}

// (grad_after - grad_before)[i] must match d loss / d x[i] for every i.
void ExpectGradient(Vec& x, const Vec& grad_before, const Vec& grad_after,
                    const std::function<double()>& loss, const char* what) {
  ASSERT_EQ(x.size(), grad_after.size()) << what;
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + kStep;
    const double up = loss();
    x[i] = saved - kStep;
    const double down = loss();
    x[i] = saved;
    const double numeric = (up - down) / (2 * kStep);
    const double analytic = grad_after[i] - grad_before[i];
    const double tol = kRelTol * std::max(std::abs(numeric), std::abs(analytic)) + kAbsTol;
    ASSERT_NEAR(analytic, numeric, tol) << what << "[" << i << "]";
  }
}

TEST(ReferenceGradientTest, MatmulBackwardMatchesFiniteDifferences) {
  const int BT = 5, C = 4, OC = 3;
  Vec inp = RandomVector(BT * C, 1), weight = RandomVector(OC * C, 2), bias = RandomVector(OC, 3);
  const Vec w_out = RandomVector(BT * OC, 4);
  auto loss = [&] {
    Vec out(BT * OC);
    reference::MatmulForward(out.data(), inp.data(), weight.data(), bias.data(), BT, C, OC);
    return Dot(out, w_out);
  };
  const Vec dinp0 = RandomVector(BT * C, 5), dw0 = RandomVector(OC * C, 6),
            db0 = RandomVector(OC, 7);
  Vec dinp = dinp0, dw = dw0, db = db0;
  reference::MatmulBackward(dinp.data(), dw.data(), db.data(), w_out.data(), inp.data(),
                            weight.data(), BT, C, OC);
  ExpectGradient(inp, dinp0, dinp, loss, "dinp");
  ExpectGradient(weight, dw0, dw, loss, "dweight");
  ExpectGradient(bias, db0, db, loss, "dbias");
}

TEST(ReferenceGradientTest, LayerNormBackwardMatchesFiniteDifferences) {
  const int N = 4, C = 6;
  Vec inp = RandomVector(N * C, 11, -2, 2), weight = RandomVector(C, 12),
      bias = RandomVector(C, 13);
  const Vec w_out = RandomVector(N * C, 14);
  Vec mean(N), rstd(N);
  auto loss = [&] {
    Vec out(N * C), m(N), s(N);
    reference::LayerNormForward(out.data(), m.data(), s.data(), inp.data(), weight.data(),
                                bias.data(), N, C, 1e-5);
    return Dot(out, w_out);
  };
  Vec out(N * C);
  reference::LayerNormForward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(),
                              bias.data(), N, C, 1e-5);
  const Vec dinp0 = RandomVector(N * C, 15), dw0 = RandomVector(C, 16), db0 = RandomVector(C, 17);
  Vec dinp = dinp0, dw = dw0, db = db0;
  reference::LayerNormBackward(dinp.data(), dw.data(), db.data(), w_out.data(), inp.data(),
                               weight.data(), mean.data(), rstd.data(), N, C);
  ExpectGradient(inp, dinp0, dinp, loss, "dinp");
  ExpectGradient(weight, dw0, dw, loss, "dweight");
  ExpectGradient(bias, db0, db, loss, "dbias");
}

TEST(ReferenceGradientTest, GeluBackwardMatchesFiniteDifferences) {
  const size_t n = 40;
  Vec inp = RandomVector(n, 21, -4, 4);
  const Vec w_out = RandomVector(n, 22);
  auto loss = [&] {
    Vec out(n);
    reference::GeluForward(out.data(), inp.data(), n);
    return Dot(out, w_out);
  };
  const Vec dinp0 = RandomVector(n, 23);
  Vec dinp = dinp0;
  reference::GeluBackward(dinp.data(), inp.data(), w_out.data(), n);
  ExpectGradient(inp, dinp0, dinp, loss, "dinp");
}

TEST(ReferenceGradientTest, EncoderBackwardMatchesFiniteDifferences) {
  const int B = 2, T = 4, C = 3, V = 3;  // V < B*T, so tokens repeat.
  const std::vector<int32_t> tokens = RandomTokens(B * T, V, 31);
  Vec wte = RandomVector(V * C, 32), wpe = RandomVector(T * C, 33);
  const Vec w_out = RandomVector(B * T * C, 34);
  auto loss = [&] {
    Vec out(B * T * C);
    reference::EncoderForward(out.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
    return Dot(out, w_out);
  };
  const Vec dwte0 = RandomVector(V * C, 35), dwpe0 = RandomVector(T * C, 36);
  Vec dwte = dwte0, dwpe = dwpe0;
  reference::EncoderBackward(dwte.data(), dwpe.data(), w_out.data(), tokens.data(), B, T, C);
  ExpectGradient(wte, dwte0, dwte, loss, "dwte");
  ExpectGradient(wpe, dwpe0, dwpe, loss, "dwpe");
}

TEST(ReferenceGradientTest, AttentionBackwardMatchesFiniteDifferences) {
  const int B = 2, T = 5, NH = 2, HS = 3, C = NH * HS;
  Vec qkv = RandomVector(B * T * 3 * C, 41, -2, 2);
  const Vec w_out = RandomVector(B * T * C, 42);
  auto loss = [&] {
    Vec out(B * T * C), att(B * NH * T * T);
    reference::AttentionForward(out.data(), att.data(), qkv.data(), B, T, NH, HS);
    return Dot(out, w_out);
  };
  Vec out(B * T * C), att(B * NH * T * T);
  reference::AttentionForward(out.data(), att.data(), qkv.data(), B, T, NH, HS);
  const Vec dqkv0 = RandomVector(qkv.size(), 43);
  Vec dqkv = dqkv0;
  reference::AttentionBackward(dqkv.data(), w_out.data(), qkv.data(), att.data(), B, T, NH, HS);
  ExpectGradient(qkv, dqkv0, dqkv, loss, "dqkv");
}

TEST(ReferenceGradientTest, CrossEntropyGradientMatchesFiniteDifferences) {
  const int BT = 4, V = 5, Vp = 7;
  const double scale = 1.0 / BT;
  Vec logits = RandomVector(BT * Vp, 51, -3, 3);
  const std::vector<int32_t> targets = RandomTokens(BT, V, 52);
  auto loss = [&] {
    Vec losses(BT);
    reference::CrossEntropyForwardBackward<double>(losses.data(), nullptr, logits.data(),
                                                   targets.data(), BT, V, Vp, scale);
    return scale * std::accumulate(losses.begin(), losses.end(), 0.0);
  };
  Vec losses(BT), dlogits(BT * Vp, 0.0);
  reference::CrossEntropyForwardBackward(losses.data(), dlogits.data(), logits.data(),
                                         targets.data(), BT, V, Vp, scale);
  ExpectGradient(logits, Vec(BT * Vp, 0.0), dlogits, loss, "dlogits");
}

}  // namespace
}  // namespace sparsescale::kernels

// The sparse scaling law of Frantar et al. (ICLR 2024) in its two parameterisations:
//
//   paper form:      L(S, N, D) = (a_S (1-S)^b_S + c_S) N^-b_N + (a_D / D)^b_D + c
//   normalised form: L = (a (1-S)^b + c) N'^-d + e D'^-f + g,  N' = N / n_scale, D' = D / d_scale
//
// The normalised form is what the fitter optimises (it is far better conditioned); the paper form
// is what users read and what coefficient files hold. D is in whatever unit the data used (steps,
// images or tokens); conversions need the same Normalisation the fit used. All functions are pure
// and thread-safe.
#pragma once

#include <array>
#include <string>

#include "absl/status/statusor.h"

namespace sparsescale::law {

// Coefficients in the paper's form; D in the data's own unit.
struct PaperCoeffs {
  double a_s = 0, b_s = 0, c_s = 0, b_n = 0, a_d = 0, b_d = 0, c = 0;
};

// Coefficients of the normalised negative-exponent form, in the notebook's order a..g.
struct NormCoeffs {
  std::array<double, 7> p{};  // a, b, c, d, e, f, g
  static constexpr int kCount = 7;
};

// Scales dividing N and D before the normalised form is evaluated.
struct Normalisation {
  double n_scale = 1e6;  // N' = N / n_scale
  double d_scale = 1e5;  // D' = D / d_scale (1e5 for T5 steps, 1e9 for ViT images)
};

// Paper form from normalised coefficients. Fails when e <= 0 or f == 0, where a_D is undefined,
// or when a coefficient overflows (f near 0).
absl::StatusOr<PaperCoeffs> ToPaper(const NormCoeffs& norm, const Normalisation& scales);

// Normalised coefficients from the paper form (total: a_D, n_scale and d_scale are positive).
NormCoeffs ToNormalised(const PaperCoeffs& paper, const Normalisation& scales);

// L(S, N, D) in the paper form.
double PredictLoss(const PaperCoeffs& law, double sparsity, double nonzeros, double data);

// L in the normalised form at raw (unscaled) N and D.
double PredictLoss(const NormCoeffs& law, const Normalisation& scales, double sparsity,
                   double nonzeros, double data);

// Capacity factor a_S (1-S)^b_S + c_S: the sparsity term that rescales N^-b_N.
double SparsityFactor(const PaperCoeffs& law, double sparsity);

// Dense-equivalent multiplier k(S) = ((a_S + c_S) / (a_S (1-S)^b_S + c_S))^(1/b_N): a model with
// N non-zeros at sparsity S reaches the loss of a dense model with k(S) * N parameters.
double DenseEquivalentMultiplier(const PaperCoeffs& law, double sparsity);

// The released fits (full-precision notebook optimum, Frantar et al. 2024).
struct LawPreset {
  std::string name;       // "t5" or "vit"
  std::string data_unit;  // "steps" or "images"
  NormCoeffs norm;
  Normalisation scales;
  PaperCoeffs paper;
  // Tokens per data unit for compute: 65,536 per T5 step (128 x 512); 1 per ViT image, so ViT
  // compute is 6 N D c_mul in parameter-image units rather than true FLOPs.
  double tokens_per_data_unit = 1;
};

// Returns the preset named "t5" or "vit"; NotFound for any other name.
absl::StatusOr<LawPreset> FindPreset(const std::string& name);

}  // namespace sparsescale::law

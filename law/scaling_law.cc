#include "law/scaling_law.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace sparsescale::law {

absl::StatusOr<PaperCoeffs> ToPaper(const NormCoeffs& norm, const Normalisation& scales) {
  const auto& [a, b, c, d, e, f, g] = norm.p;
  if (!(e > 0) || f == 0 || !std::isfinite(e) || !std::isfinite(f)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "normalised coefficients e=%g f=%g have no paper form: a_D = e^(1/f) * d_scale needs "
        "e > 0 and f != 0",
        e, f));
  }
  const double n_pow = std::pow(scales.n_scale, d);
  PaperCoeffs paper;
  paper.a_s = a * n_pow;
  paper.b_s = b;
  paper.c_s = c * n_pow;
  paper.b_n = d;
  paper.a_d = std::pow(e, 1.0 / f) * scales.d_scale;
  paper.b_d = f;
  paper.c = g;
  if (!std::isfinite(paper.a_d) || !std::isfinite(paper.a_s) || !std::isfinite(paper.c_s)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "normalised coefficients have no finite paper form (a_D = e^(1/f) d_scale with e=%g, "
        "f=%g)",
        e, f));
  }
  return paper;
}

NormCoeffs ToNormalised(const PaperCoeffs& paper, const Normalisation& scales) {
  const double n_pow = std::pow(scales.n_scale, paper.b_n);
  NormCoeffs norm;
  norm.p = {paper.a_s / n_pow,
            paper.b_s,
            paper.c_s / n_pow,
            paper.b_n,
            std::pow(paper.a_d / scales.d_scale, paper.b_d),
            paper.b_d,
            paper.c};
  return norm;
}

double SparsityFactor(const PaperCoeffs& law, double sparsity) {
  return law.a_s * std::pow(1.0 - sparsity, law.b_s) + law.c_s;
}

double PredictLoss(const PaperCoeffs& law, double sparsity, double nonzeros, double data) {
  return SparsityFactor(law, sparsity) * std::pow(nonzeros, -law.b_n) +
         std::pow(law.a_d / data, law.b_d) + law.c;
}

double PredictLoss(const NormCoeffs& law, const Normalisation& scales, double sparsity,
                   double nonzeros, double data) {
  const auto& [a, b, c, d, e, f, g] = law.p;
  return (a * std::pow(1.0 - sparsity, b) + c) * std::pow(nonzeros / scales.n_scale, -d) +
         e * std::pow(data / scales.d_scale, -f) + g;
}

double DenseEquivalentMultiplier(const PaperCoeffs& law, double sparsity) {
  return std::pow((law.a_s + law.c_s) / SparsityFactor(law, sparsity), 1.0 / law.b_n);
}

namespace {

LawPreset MakePreset(std::string name, std::string unit, std::array<double, 7> p, double d_scale,
                     double tokens_per_unit) {
  LawPreset preset;
  preset.name = std::move(name);
  preset.data_unit = std::move(unit);
  preset.norm.p = p;
  preset.scales = Normalisation{1e6, d_scale};
  // The released e and f are positive, so the conversion cannot fail.
  preset.paper = *ToPaper(preset.norm, preset.scales);
  preset.tokens_per_data_unit = tokens_per_unit;
  return preset;
}

}  // namespace

absl::StatusOr<LawPreset> FindPreset(const std::string& name) {
  if (name == "vit") {
    return MakePreset(
        "vit", "images",
        {1.30485411, 0.82101251, 2.07506343, 0.39222675, 0.27818217, 0.88979104, 4.51669257}, 1e9,
        1.0);
  }
  if (name == "t5") {
    return MakePreset(
        "t5", "steps",
        {0.56778512, 0.72161276, 1.52265016, 0.24513173, 0.63361517, 0.20270772, 0.65074219}, 1e5,
        65536.0);
  }
  return absl::NotFoundError(absl::StrFormat("unknown law preset '%s' (expected t5 or vit)", name));
}

}  // namespace sparsescale::law

#include "law/sparsity_regime.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace sparsescale::law {

SparsityRegime CheckSparsityRegime(const std::vector<RunRecord>& runs, double nonzeros_ratio) {
  SparsityRegime regime;
  regime.nonzeros_ratio = std::max(1.0, nonzeros_ratio);
  for (const RunRecord& denser : runs) {
    if (IsNmStructured(denser)) {
      continue;
    }
    for (const RunRecord& sparser : runs) {
      if (IsNmStructured(sparser) || !(sparser.sparsity > denser.sparsity) ||
          sparser.data != denser.data || sparser.nonzeros < denser.nonzeros ||
          sparser.nonzeros > regime.nonzeros_ratio * denser.nonzeros) {
        continue;
      }
      ++regime.pairs;
      if (sparser.loss > denser.loss) {
        regime.violations.push_back({denser, sparser});
      }
    }
  }
  std::stable_sort(regime.violations.begin(), regime.violations.end(),
                   [](const RegimeViolation& a, const RegimeViolation& b) {
                     return a.sparser.loss / a.denser.loss > b.sparser.loss / b.denser.loss;
                   });
  return regime;
}

std::string FormatSparsityRegime(const SparsityRegime& regime, int max_listed) {
  if (regime.pairs == 0) {
    return "";
  }
  const int agree = regime.pairs - static_cast<int>(regime.violations.size());
  std::string out = absl::StrFormat(
      "sparsity regime: the sparser run has the lower loss in %d of %d pairs (same D, the sparser "
      "holding 1-%gx the non-zeros)",
      agree, regime.pairs, regime.nonzeros_ratio);
  if (regime.violations.empty()) {
    return out + ", as the law assumes\n";
  }
  out += absl::StrFormat(
      ";\n  the law ranks the sparser model lower at equal N and D, so these %d pairs lie outside "
      "its\n  regime (models too small or budgets too short to recover from pruning?) and can bend "
      "the fit:\n",
      static_cast<int>(regime.violations.size()));
  const int listed = std::min<int>(max_listed, static_cast<int>(regime.violations.size()));
  for (int i = 0; i < listed; ++i) {
    const RegimeViolation& v = regime.violations[i];
    out += absl::StrFormat(
        "  D = %.4g: S = %.4g, N = %.6g: %.4f > S = %.4g, N = %.6g: %.4f (+%.2f%%)\n",
        v.sparser.data, v.sparser.sparsity, v.sparser.nonzeros, v.sparser.loss, v.denser.sparsity,
        v.denser.nonzeros, v.denser.loss, 100 * (v.sparser.loss / v.denser.loss - 1));
  }
  if (listed < static_cast<int>(regime.violations.size())) {
    out +=
        absl::StrFormat("  ... and %d more\n", static_cast<int>(regime.violations.size()) - listed);
  }
  return out;
}

}  // namespace sparsescale::law

#include "law/proto/law_proto.h"

namespace sparsescale::law {

namespace v1 = sparsescale::v1;

PaperCoeffs PaperCoeffsOf(const v1::LawCoefficients& c) {
  return {.a_s = c.a_s(),
          .b_s = c.b_s(),
          .c_s = c.c_s(),
          .b_n = c.b_n(),
          .a_d = c.a_d(),
          .b_d = c.b_d(),
          .c = c.c()};
}

v1::LawCoefficients LawCoefficientsOf(const std::array<double, 7>& p) {
  v1::LawCoefficients c;
  c.set_a_s(p[0]);
  c.set_b_s(p[1]);
  c.set_c_s(p[2]);
  c.set_b_n(p[3]);
  c.set_a_d(p[4]);
  c.set_b_d(p[5]);
  c.set_c(p[6]);
  return c;
}

v1::LawCoefficients LawCoefficientsOf(const PaperCoeffs& paper) {
  return LawCoefficientsOf(PaperArray(paper));
}

v1::StructureRefit StructureRefitOf(const StructureFit& fit) {
  v1::StructureRefit refit;
  refit.set_m(fit.m);
  refit.set_runs(fit.runs);
  refit.set_b_s_shared(fit.b_s_shared);
  if (fit.paper.has_value()) {
    *refit.mutable_coefficients() = LawCoefficientsOf(*fit.paper);
  }
  refit.set_objective(fit.objective);
  for (const PatternEquivalent& p : fit.patterns) {
    v1::StructurePattern* pattern = refit.add_patterns();
    pattern->set_pattern(p.pattern);
    pattern->set_sparsity(p.sparsity);
    if (p.equivalent_unstructured.has_value()) {
      pattern->set_equivalent_unstructured(*p.equivalent_unstructured);
    }
  }
  return refit;
}

}  // namespace sparsescale::law

// The law's records as sparsescale.v1 messages and back: one place for the conversions that the
// coordinator (FitLaw, OptimalSparsity) and the client (study report) both need. Pure functions;
// thread-safe.
#pragma once

#include <array>

#include "law/fit_analysis.h"
#include "law/scaling_law.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::law {

PaperCoeffs PaperCoeffsOf(const sparsescale::v1::LawCoefficients& c);

sparsescale::v1::LawCoefficients LawCoefficientsOf(const PaperCoeffs& paper);
// The same from PaperArray order: a_S, b_S, c_S, b_N, a_D, b_D, c.
sparsescale::v1::LawCoefficients LawCoefficientsOf(const std::array<double, 7>& p);

// One n:m family's refit. Its coefficients are the family's paper form when it has one, else
// left unset (the message's coefficients field absent).
sparsescale::v1::StructureRefit StructureRefitOf(const StructureFit& fit);

}  // namespace sparsescale::law

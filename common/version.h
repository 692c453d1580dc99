// The release version of every sparsescale binary and the version of the worker protocol.
//
// Compatibility rule: a worker and a coordinator work together exactly when their protocol
// versions are equal. kProtocolVersion changes only when a worker of the old version could
// misread or be misread by a coordinator of the new one (a changed meaning, not an added field:
// added fields keep the version, since protobuf ignores unknown fields). The release version
// (kVersion, the CMake project version) is informational: it names the two sides in messages.
// A worker that sends no protocol version (0, before the field existed) speaks version 1.
//
// Constants only; thread-safe.
#pragma once

#include <string>

namespace sparsescale {

#ifndef SPARSESCALE_VERSION
#error "SPARSESCALE_VERSION is defined by common/CMakeLists.txt (the CMake project version)"
#endif

inline constexpr char kVersion[] = SPARSESCALE_VERSION;
inline constexpr int kProtocolVersion = 1;

// The protocol version a worker sent: `sent`, or 1 when it sent none (0).
inline int EffectiveProtocolVersion(int sent) { return sent == 0 ? 1 : sent; }

}  // namespace sparsescale

#!/usr/bin/env bash
# Regenerates proto/compat/sparsescale_v1.binpb, the committed v1 descriptor set that ctest
# proto_compat checks every build against. Run it only for a deliberate change of the
# compatibility baseline (an addition you want guarded from now on, or a new major version),
# and commit the result with the .proto change.
# Usage: bash proto/compat/update_descriptor_set.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
protoc -I"$repo/proto" --include_imports \
  --descriptor_set_out="$repo/proto/compat/sparsescale_v1.binpb" sparsescale/v1/coordinator.proto
echo "wrote proto/compat/sparsescale_v1.binpb"

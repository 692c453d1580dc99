// The address a worker's job processes publish for the other ranks of a multi-rank job (the
// TCP ring's rank 0 address, carried by the coordinator's Rendezvous RPC): an IPv4 address of
// this machine that other machines can reach. By default it is the local address of a socket
// connected towards the coordinator (a UDP "connect" sends nothing; the kernel picks the
// source address of the route to it), so it is never 127.0.0.1 unless the coordinator itself
// is on loopback. `sparsescale-worker --advertise-address HOST` overrides it.
//
// Pure functions apart from name resolution and one socket; thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sparsescale::agent {

// The local IPv4 address of the route to `coordinator` ("HOST:PORT"; HOST a name or an IPv4
// address; a gRPC "dns:///" or "ipv4:" prefix is allowed). InvalidArgument naming
// "--coordinator" for a malformed address; Unavailable when the name does not resolve to an
// IPv4 address or there is no route to it.
absl::StatusOr<std::string> DetectAdvertiseAddress(const std::string& coordinator);

// OK when `host` is a dotted IPv4 address (what the TCP ring binds); InvalidArgument naming
// "--advertise-address" otherwise.
absl::Status CheckAdvertiseAddress(const std::string& host);

}  // namespace sparsescale::agent

#!/bin/bash
# The sparsescale image's entrypoint: one image runs the coordinator or a CPU worker.
#   coordinator [FLAGS]   sparsescale-coordinator with --db /var/lib/sparsescale/coordinator.db,
#                         --listen 0.0.0.0:7070 and --http-listen 0.0.0.0:8080 unless FLAGS
#                         name them; FLAGS are passed on (e.g. --auth=none --insecure, or TLS).
#   worker [FLAGS]        sparsescale-worker with --coordinator $SPARSESCALE_COORDINATOR
#                         (default coordinator:7070), --device $SPARSESCALE_DEVICE (default
#                         cpu; the CUDA image sets cuda) and --work-dir /var/tmp/sparsescale
#                         unless FLAGS name them.
#   health                the HEALTHCHECK: the coordinator answers GET /healthz on its HTTP
#                         port ($SPARSESCALE_HTTP_PORT, default 8080); a worker is healthy while
#                         its process (PID 1) runs.
#   anything else         run as given (sparsescale status ..., bash, ...).
# The daemon replaces this script (exec): it is PID 1 and gets podman's SIGTERM, which drains.
set -euo pipefail

# has_flag NAME ARGS...: whether ARGS contain --NAME or --NAME=VALUE.
has_flag() {
  local name="$1"
  shift
  local a
  for a in "$@"; do
    case "$a" in "--$name" | "--$name="*) return 0 ;; esac
  done
  return 1
}

health() {
  local comm
  comm="$(cat /proc/1/comm)"
  case "$comm" in
    sparsescale-coo*)
      exec 3<>"/dev/tcp/127.0.0.1/${SPARSESCALE_HTTP_PORT:-8080}"
      printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
      local status
      read -r -t 5 status <&3
      case "$status" in "HTTP/1."?" 200"*) exit 0 ;; esac
      echo "health: /healthz answered \"$status\"" >&2
      exit 1 ;;
    sparsescale-wor*) exit 0 ;;
    *) echo "health: PID 1 is $comm, not a sparsescale daemon" >&2; exit 1 ;;
  esac
}

mode="${1:-coordinator}"
[ $# -gt 0 ] && shift
case "$mode" in
  coordinator)
    defaults=()
    has_flag db "$@" || defaults+=(--db /var/lib/sparsescale/coordinator.db)
    has_flag listen "$@" || defaults+=(--listen 0.0.0.0:7070)
    has_flag http-listen "$@" || defaults+=(--http-listen 0.0.0.0:8080)
    exec sparsescale-coordinator "${defaults[@]}" "$@" ;;
  worker)
    defaults=()
    has_flag coordinator "$@" ||
      defaults+=(--coordinator "${SPARSESCALE_COORDINATOR:-coordinator:7070}")
    has_flag device "$@" || defaults+=(--device "${SPARSESCALE_DEVICE:-cpu}")
    has_flag work-dir "$@" || defaults+=(--work-dir /var/tmp/sparsescale)
    exec sparsescale-worker "${defaults[@]}" "$@" ;;
  health) health ;;
  *) exec "$mode" "$@" ;;
esac

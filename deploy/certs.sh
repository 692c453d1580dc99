#!/usr/bin/env bash
# Makes a certificate authority and certificates for a test cluster (docs/SECURITY.md):
#   DIR/ca.pem, ca.key          the CA (give ca.pem to clients and workers as --tls-ca, and to
#                               the coordinator as --tls-client-ca for mutual TLS)
#   DIR/server.pem, server.key  the coordinator's (--tls-cert, --tls-key); SANs localhost,
#                               127.0.0.1 and every --san
#   DIR/worker.pem, worker.key  a worker's client certificate (worker --tls-cert, --tls-key)
# Usage: deploy/certs.sh DIR [--san NAME_OR_IP]... [--days N] [--expired]
#   --expired makes server.pem and worker.pem that expired yesterday (for tests).
# An existing CA in DIR is reused, so that more certificates can be added to one cluster.
set -euo pipefail

usage() { sed -n '2,11p' "$0" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
dir=$1
shift
sans=(DNS:localhost IP:127.0.0.1)
days=365
expired=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --san)
      [[ $# -ge 2 ]] || usage
      if [[ $2 =~ ^[0-9.]+$ || $2 == *:* ]]; then sans+=("IP:$2"); else sans+=("DNS:$2"); fi
      shift 2 ;;
    --days) [[ $# -ge 2 ]] || usage; days=$2; shift 2 ;;
    --expired) expired=1; shift ;;
    *) usage ;;
  esac
done
command -v openssl >/dev/null || { echo "certs.sh: openssl is not installed (deploy/setup.sh)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
umask 077

if [[ ! -f ca.pem ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -days "$days" -subj "/CN=sparsescale test CA $(date +%s%N)" 2>/dev/null
fi

san_list=$(IFS=,; echo "${sans[*]}")

# sign NAME CN USAGE: NAME.key and NAME.pem signed by the CA.
sign() {
  local name=$1 cn=$2 usage=$3
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" \
    -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
  cat > "$name.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=$usage
subjectAltName=$san_list
EXT
  if [[ $expired == 1 ]]; then
    # `openssl ca` is the one OpenSSL 3.0 command that takes explicit validity dates.
    mkdir -p ca-db && : > ca-db/index.txt && echo 1000 > ca-db/serial
    cat > ca-db/ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
CNF
    openssl ca -batch -config ca-db/ca.cnf -cert ca.pem -keyfile ca.key -in "$name.csr" \
      -out "$name.pem" -extfile "$name.ext" -notext \
      -startdate "$(date -u -d '-3 days' +%Y%m%d%H%M%SZ)" \
      -enddate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)" 2>/dev/null
  else
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
      -out "$name.pem" -days "$days" -sha256 -extfile "$name.ext" 2>/dev/null
  fi
  rm -f "$name.csr" "$name.ext"
}

sign server sparsescale-coordinator serverAuth
sign worker sparsescale-worker clientAuth
chmod 600 ./*.key
chmod 644 ./*.pem
echo "certs.sh: CA, server and worker certificates in $dir (SANs: $san_list)"

#!/usr/bin/env bash
# The cost of mutual TLS on the gRPC path (docs/benchmarks.md, "Cost of TLS"): a rendezvous and
# six peers on loopback (three emulated regions), then `locusctl bench` of GetBootList at the
# rendezvous and of Measure at a peer, with TLS and with --insecure-plaintext. Everything on
# this one machine: the load generator shares its cores with the services.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -p locus-rendezvous -p locus-peer -p locusctl
BIN="$CARGO_TARGET_DIR/release"
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
T=crates/locus-topology/examples/three-regions.yaml
REQUESTS=${REQUESTS:-50000}

"$BIN/locusctl" ca init --dir "$W" >/dev/null
"$BIN/locusctl" token create --tokens "$W/tokens" >"$W/token"
"$BIN/locusctl" cert operator --ca-dir "$W" --name bench --out-dir "$W" >/dev/null

cluster() { # $1: tls | plaintext; $2: port base
  local mode=$1 base=$2 rv_flags peer_flags
  if [ "$mode" = tls ]; then
    rv_flags="--ca $W/ca.pem --ca-key $W/ca-key.pem --tokens $W/tokens"
    peer_flags="--ca $W/ca.pem --token-file $W/token"
  else
    rv_flags="--insecure-plaintext"; peer_flags="--insecure-plaintext"
  fi
  RUST_LOG=warn "$BIN/locus-rendezvous" --listen 127.0.0.1:$base --metrics-listen off \
    --allow-private-addresses $rv_flags 2>>"$W/$mode.log" &
  sleep 0.5
  local i=0
  for site in eu eu us us asia asia; do i=$((i+1))
    RUST_LOG=warn "$BIN/locus-peer" --listen 127.0.0.1:$((base+i)) --metrics-listen off \
      --rendezvous 127.0.0.1:$base --topology $T --site $site --preset test \
      --allow-private-addresses $peer_flags 2>>"$W/$mode.log" &
  done
  sleep 8
}

bench() { # $1: mode; $2: rpc; $3: addr; $4: concurrency
  local flags=""
  [ "$1" = tls ] && flags="--ca $W/ca.pem --cert $W/bench.pem --key $W/bench-key.pem"
  echo "== $1 $2 concurrency $4"
  # shellcheck disable=SC2086
  env -u LOCUS_CA -u LOCUS_CERT -u LOCUS_KEY "$BIN/locusctl" $flags bench --rpc "$2" \
    --concurrency "$4" --requests "$REQUESTS" --duration-s 60 "$3"
}

cluster tls 7300
cluster plaintext 7400
for c in 16 64; do
  bench tls get-boot-list 127.0.0.1:7300 $c
  bench plaintext get-boot-list 127.0.0.1:7400 $c
done
bench tls measure 127.0.0.1:7301 16
bench plaintext measure 127.0.0.1:7401 16

#!/usr/bin/env bash
# Load test of the metadata-server binary, the source of the per-node figures
# in docs/scale.md. Runs the emulator (fake Google) and a metadata server
# backed by the emulator's service-account key on loopback, drives the
# server with wrk (apt-get install wrk; a measuring tool, not a test
# dependency) and reads the upstream fetch counters from /metrics and the
# server's memory from /proc.
#
#   bash docs/scale/loadtest.sh            # 15 s per run, 50 connections
#   DURATION=30s CONNS=100 bash docs/scale/loadtest.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
EMU=${EMU_ADDR:-127.0.0.1:28186}
MDS=${MDS_ADDR:-127.0.0.1:28187}
AUDIENCES=${AUDIENCES:-1000}

command -v wrk >/dev/null || { echo "loadtest: wrk not found: apt-get install wrk" >&2; exit 2; }
make -s build
state=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$state"
}
trap cleanup EXIT

./bin/gcptoken emulator --listen "$EMU" --state-dir "$state" --quiet >/dev/null 2>"$state/emu.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$state/service-account.json" ] && break; sleep 0.1; done
[ -s "$state/service-account.json" ] || { echo "loadtest: the emulator did not start: $(cat "$state/emu.log") (set EMU_ADDR)" >&2; exit 1; }
./bin/gcptoken metadata-server --credentials "$state/service-account.json" --listen "$MDS" >/dev/null 2>"$state/mds.log" &
mds=$!
pids+=("$mds")
for _ in $(seq 100); do curl -fsS "http://$MDS/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$MDS/healthz" >/dev/null 2>&1 || { echo "loadtest: the metadata server did not start: $(head -3 "$state/mds.log") (set MDS_ADDR)" >&2; exit 1; }

base="http://$MDS/computeMetadata/v1/instance/service-accounts/default"
flavor='Metadata-Flavor: Google'
rss() { awk '/^VmRSS/ {print $2" kB"}' "/proc/$mds/status"; }
hwm() { awk '/^VmHWM/ {print $2" kB"}' "/proc/$mds/status"; }
fetches() {
	curl -fsS "http://$MDS/metrics" | awk -v kind="$1" '
		$1 ~ "^gcptoken_metadataserver_upstream_fetches_total\\{kind=\"" kind "\"" {n += $2}
		END {print n + 0}'
}

echo "== $(./bin/gcptoken version)"
echo "== machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), wrk and the server share them"
echo "== idle: RSS $(rss)"

# Warm the cache, then load the token endpoint.
curl -fsS -H "$flavor" "$base/token" >/dev/null
echo "== access token, $CONNS connections, $DURATION"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "$flavor" "$base/token" | grep -E 'Requests/sec|Latency|  50%|  99%|requests in|Non-2xx'
echo "upstream access-token fetches so far: $(fetches access_token)   RSS $(rss)"

aud="https://svc-abc.a.run.app"
curl -fsS -H "$flavor" "$base/identity?audience=$aud&format=full" >/dev/null
echo "== ID token (one audience), $CONNS connections, $DURATION"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "$flavor" "$base/identity?audience=$aud&format=full" | grep -E 'Requests/sec|Latency|  50%|  99%|requests in|Non-2xx'
echo "upstream ID-token fetches so far: $(fetches id_token)   RSS $(rss)"

# Memory per cached key: fill the ID-token cache with distinct audiences.
before=$(awk '/^VmRSS/ {print $2}' "/proc/$mds/status")
for i in $(seq "$AUDIENCES"); do
	echo "url = \"$base/identity?audience=https://svc-$i.a.run.app\""
	echo "output = /dev/null"
done >"$state/curl.cfg"
curl -fsS --no-progress-meter --parallel --parallel-max 16 -H "$flavor" -K "$state/curl.cfg"
after=$(awk '/^VmRSS/ {print $2}' "/proc/$mds/status")
echo "== $AUDIENCES more audiences cached: upstream ID-token fetches $(fetches id_token); RSS $before kB -> $after kB ($(( (after - before) * 1024 / AUDIENCES )) bytes per cached ID token); peak RSS $(hwm)"

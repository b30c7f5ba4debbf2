#!/usr/bin/env bash
# Bounded soak: the three webhooks at once for DURATION against the release binary (dev profile,
# embedded store, loopback only), with the server's resident memory sampled every few seconds.
# Fails on any error answer, any failed request, resident memory that keeps growing, or a /metrics
# scrape whose request and post-call counters differ from what the load generators sent.
#
#   scripts/soak.sh                     60 s: client-data 200/s, search-data 100/s,
#                                       post-call 10/s transcription + 10/s audio
#   DURATION=600s scripts/soak.sh       a longer run
#
# The post-call bodies are signed once and delivered again and again, as ElevenLabs retries do
# (so the archive is rewritten, ingestion rescheduled and skipped as already learnt). oha is
# installed with `cargo install oha --locked` when missing; python3 reads its JSON reports.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-60s}
PORT=${PORT:-18090}
SAMPLE_EVERY=${SAMPLE_EVERY:-5}
BASE="http://127.0.0.1:${PORT}"

command -v oha >/dev/null 2>&1 || cargo install oha --locked
cargo build --release --quiet
BINARY="${CARGO_TARGET_DIR:-target}/release/caller-memory"

export RUST_LOG=${RUST_LOG:-warn}
source scripts/dev-server.sh
start_dev_server

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status"; }
(
    while kill -0 "$SERVER" 2>/dev/null; do
        rss_kib >>"$DATA/rss" 2>/dev/null || true
        sleep "$SAMPLE_EVERY"
    done
) &
SAMPLER=$!

TRANSCRIPTION_SIGNATURE=$("$BINARY" --dev sign payloads/post_call_transcription.json)
AUDIO_SIGNATURE=$("$BINARY" --dev sign payloads/post_call_audio.json)
load() { # name, rate, then oha arguments
    local name=$1 rate=$2
    shift 2
    oha --no-tui -w -z "$DURATION" -q "$rate" -c 8 -m POST -T application/json \
        --output-format json -o "$DATA/$name.json" "$@" &
    LOADS+=($!)
}
LOADS=()
echo "== soak for $DURATION"
load client-data 200 -H "X-Api-Key: dev-only-client-data-key" \
    -D payloads/client_data.json "$BASE/webhook/client-data"
load search-data 100 -H "X-Api-Key: dev-only-search-data-key" \
    -D payloads/search_data.json "$BASE/webhook/search-data"
load post-call-transcription 10 -H "ElevenLabs-Signature: $TRANSCRIPTION_SIGNATURE" \
    -D payloads/post_call_transcription.json "$BASE/webhook/post-call"
load post-call-audio 10 -H "ElevenLabs-Signature: $AUDIO_SIGNATURE" \
    -D payloads/post_call_audio.json "$BASE/webhook/post-call"
wait "${LOADS[@]}"
curl -sf "$BASE/metrics" >"$DATA/metrics.txt"
rss_kib >>"$DATA/rss"
kill "$SAMPLER" 2>/dev/null || true

STATUS=0
python3 - "$DATA" <<'PY' || STATUS=1
import json, pathlib, sys
data = pathlib.Path(sys.argv[1])
failed = False
print(f"{'webhook':<26}{'requests':>9}{'non-200':>9}{'errors':>8}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}")
for name in ["client-data", "search-data", "post-call-transcription", "post-call-audio"]:
    report = json.loads((data / f"{name}.json").read_text())
    statuses = {int(code): count for code, count in report["statusCodeDistribution"].items()}
    total = sum(statuses.values())
    errors = sum(report.get("errorDistribution", {}).values())
    not_ok = total - statuses.get(200, 0)
    latency = report["latencyPercentiles"]
    print(f"{name:<26}{total:>9}{not_ok:>9}{errors:>8}{report['summary']['requestsPerSec']:>8.0f}"
          f"{latency['p50'] * 1000:>8.1f}{latency['p99'] * 1000:>8.1f}")
    failed |= not_ok > 0 or errors > 0 or total == 0
# The service's own counters must tell the same story as the load generators.
metrics = {}
for line in (data / "metrics.txt").read_text().splitlines():
    if line and not line.startswith("#"):
        series, value = line.rsplit(" ", 1)
        metrics[series] = float(value)
def counted(series):
    return int(metrics.get(series, 0))
def requests(operation, ok):
    return sum(int(value) for series, value in metrics.items()
               if series.startswith(f'caller_memory_http_requests_total{{operation="{operation}"')
               and ('status="200"' in series) == ok)
sent = {}
for name in ["client-data", "search-data", "post-call-transcription", "post-call-audio"]:
    report = json.loads((data / f"{name}.json").read_text())
    statuses = {int(code): count for code, count in report["statusCodeDistribution"].items()}
    sent[name] = (statuses.get(200, 0), sum(statuses.values()) - statuses.get(200, 0))
checks = [
    ("client-data 200", sent["client-data"][0], requests("client_data", True)),
    ("client-data non-200", sent["client-data"][1], requests("client_data", False)),
    ("search-data 200", sent["search-data"][0], requests("search_data", True)),
    ("search-data non-200", sent["search-data"][1], requests("search_data", False)),
    ("post-call 200", sent["post-call-transcription"][0] + sent["post-call-audio"][0],
     requests("post_call", True)),
    ("post-call non-200", sent["post-call-transcription"][1] + sent["post-call-audio"][1],
     requests("post_call", False)),
    ("transcriptions archived", sent["post-call-transcription"][0], counted(
        'caller_memory_post_call_deliveries_total{event_type="post_call_transcription",outcome="archived"}')),
    ("audio events archived", sent["post-call-audio"][0], counted(
        'caller_memory_post_call_deliveries_total{event_type="post_call_audio",outcome="archived"}')),
]
print(f"{'/metrics check':<26}{'sent':>9}{'counted':>9}")
for what, expected, got in checks:
    print(f"{what:<26}{expected:>9}{got:>9}{'' if expected == got else '  MISMATCH'}")
    failed |= expected != got
rss = [int(line) for line in (data / "rss").read_text().split()]
start, peak, end = rss[0], max(rss), rss[-1]
print(f"server VmRSS: start {start / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, "
      f"end {end / 1024:.1f} MiB ({len(rss)} samples)")
print("samples (MiB):", " ".join(f"{sample / 1024:.1f}" for sample in rss))
# Flat means the second half of the run does not keep growing past the first half's peak
# by more than a few MiB (allocator caches settle in the first seconds).
half = rss[: len(rss) // 2] or rss
if end > max(half) + 8 * 1024:
    print("resident memory kept growing")
    failed = True
sys.exit(1 if failed else 0)
PY
if grep -qiE '"level":"ERROR"| ERROR ' "$DATA/server.log"; then
    echo "== server errors during the soak (first 5)"
    grep -iE '"level":"ERROR"| ERROR ' "$DATA/server.log" | head -5
    STATUS=1
fi
exit "$STATUS"

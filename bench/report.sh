#!/usr/bin/env bash
# The map report's size and render time (docs/report.md): builds the pages of the
# demo, the real 20-minute Munich drive, that drive three times over (one hour),
# and a dense generated one-hour drive, then times headless Chromium from start to
# screenshot on each (median of 3, beside an empty page). Not run in CI.
#   bash bench/report.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/report-bench}
data=../shared/data
mkdir -p "$out"
cargo build --release -q
kairos=target/release/kairos
chromium=${KAIROS_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "no chromium at $chromium (apt-get install -y chromium)"; exit 2; }

now_ms() { date +%s%3N; }

# Pages: NAME OFFERS TRACE
"$kairos" import osm "$data/osm/munchen-2020.osm.pbf" --out "$out/munich.geojson" 2>/dev/null
"$kairos" import trace "$data/traces/munich-drive/x0001-001.json" --out "$out/drive.jsonl" \
  --device tester --start 2026-07-15T12:00:00+02:00 \
  --profile '{"consent": true, "diet": ["vegetarian"]}' --context '{"hungry": true}' 2>/dev/null
# The same drive there, back and there again: one hour of real driving.
python3 - "$out/drive.jsonl" "$out/drive-1h.jsonl" <<'EOF'
import json, sys
from datetime import datetime, timedelta
lines = [json.loads(l) for l in open(sys.argv[1])]
head = [l for l in lines if not l["topic"].endswith("/position")]
pos = [l for l in lines if l["topic"].endswith("/position")]
t0 = datetime.fromisoformat(pos[0]["at"])
lap = datetime.fromisoformat(pos[-1]["at"]) - t0 + timedelta(seconds=1)
with open(sys.argv[2], "w") as f:
    for l in head:
        f.write(json.dumps(l) + "\n")
    for n, seq in enumerate([pos, pos[::-1], pos]):
        for i, l in enumerate(seq):
            at = (t0 + n * lap + (datetime.fromisoformat(pos[i]["at"]) - t0)).isoformat()
            payload = dict(l["payload"], ts=at)
            if n == 1:
                payload.pop("heading", None)  # driving back: the recorded heading is wrong
            f.write(json.dumps({"at": at, "topic": l["topic"], "payload": payload}) + "\n")
EOF
"$kairos" generate --merchants 100000 --devices 1 --events 3600 --out "$out/dense" 2>/dev/null

pages=(
  "demo data/demo/offers.geojson data/demo/drive.jsonl"
  "munich-20min $out/munich.geojson $out/drive.jsonl"
  "munich-1h $out/munich.geojson $out/drive-1h.jsonl"
  "dense-1h $out/dense/offers.geojson $out/dense/trace.jsonl"
)
echo '<!DOCTYPE html><title>empty</title>' > "$out/empty.html"

render() { # PAGE -> milliseconds from start to screenshot
  local profile
  profile=$(mktemp -d)
  local t0
  t0=$(now_ms)
  "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-extensions --disable-default-apps --disable-domain-reliability --no-pings \
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" --hide-scrollbars \
    --user-data-dir="$profile" --window-size=1200,800 --virtual-time-budget=5000 \
    --screenshot="$out/shot.png" "file://$(realpath "$1")" >/dev/null 2>&1
  echo $(($(now_ms) - t0))
  rm -rf "$profile"
}
draw_ms() { # PAGE -> the page's own script time (data-draw-ms), in ms
  local profile
  profile=$(mktemp -d)
  "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
    --user-data-dir="$profile" --window-size=1200,800 --virtual-time-budget=5000 \
    --dump-dom "file://$(realpath "$1")" 2>/dev/null | grep -o 'data-draw-ms="[0-9]*"' | grep -o '[0-9]*'
  rm -rf "$profile"
}
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }

echo "| page | trace lines | merchants in file | page size | replay | replay --html | chromium, start to screenshot (median of 3) | the page's script |"
echo "|---|---|---|---|---|---|---|---|"
echo "| empty page (Chromium's own start) | | | $(stat -c %s "$out/empty.html") B | | | $(median3 "$(render "$out/empty.html")" "$(render "$out/empty.html")" "$(render "$out/empty.html")") ms | |"
for entry in "${pages[@]}"; do
  read -r name offers trace <<<"$entry"
  t0=$(now_ms)
  "$kairos" replay --offers "$offers" --trace "$trace" >/dev/null
  plain_ms=$(($(now_ms) - t0))
  t0=$(now_ms)
  "$kairos" replay --offers "$offers" --trace "$trace" --html "$out/$name.html" >/dev/null
  html_ms=$(($(now_ms) - t0))
  size=$(stat -c %s "$out/$name.html")
  lines=$(wc -l <"$trace")
  merchants=$(grep -o '"Feature"' "$offers" | wc -l)
  ms=$(median3 "$(render "$out/$name.html")" "$(render "$out/$name.html")" "$(render "$out/$name.html")")
  echo "| $name | $lines | $merchants | $((size / 1024)) KiB | $plain_ms ms | $html_ms ms | $ms ms | $(draw_ms "$out/$name.html") ms |"
done

#!/usr/bin/env bash
# The scale benchmark in one command (see docs/benchmarks.md); not run in CI.
#
#   bash bench/run.sh [--merchants 10000,100000,1000000] [more flags of benches/scale.rs]
#
# Starts its own redis-server on a free loopback port (no persistence) and
# stops it at the end; uses PostgreSQL at $KAIROS_BENCH_PG (default
# "host=127.0.0.1 user=postgres dbname=test"), installing PostGIS with apt-get
# when `CREATE EXTENSION postgis` fails. Writes the table to stdout and to
# target/bench-results.md. Generated data goes to target/bench-data/ (reused
# when the sizes and seed are unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."

PG="${KAIROS_BENCH_PG:-host=127.0.0.1 user=postgres dbname=test}"

if ! command -v redis-server >/dev/null; then
  apt-get install -y redis-server >/dev/null
fi
# A free port: ask the kernel for one.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >/dev/null &
REDIS_PID=$!
trap 'kill "$REDIS_PID" 2>/dev/null || true' EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

PSQL=(psql "$PG" -v ON_ERROR_STOP=1 -qAt)
if ! "${PSQL[@]}" -c 'CREATE EXTENSION IF NOT EXISTS postgis' >/dev/null 2>&1; then
  PGVER=$("${PSQL[@]}" -c 'SHOW server_version_num' | cut -c1-2)
  apt-get install -y "postgresql-${PGVER}-postgis-3" >/dev/null
  "${PSQL[@]}" -c 'CREATE EXTENSION IF NOT EXISTS postgis' >/dev/null
fi

{
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "- Redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-), $("${PSQL[@]}" -c 'SELECT version()' | cut -d' ' -f1-2), PostGIS $("${PSQL[@]}" -c 'SELECT postgis_lib_version()')"
  echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > target/bench-header.md

cargo bench --bench scale -- --redis "redis://127.0.0.1:$PORT/" --postgres "$PG" "$@" > target/bench-table.md

echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> target/bench-header.md
cat target/bench-header.md target/bench-table.md | tee target/bench-results.md

#!/usr/bin/env bash
# Profiles upwatch under a steady load of RATE probes/s (RATE monitors at 1 s):
# how the machine's CPU splits between upwatch, PostgreSQL, Redis and the
# target (perf, system-wide), and a flamegraph of upwatch (perf with DWARF
# call graphs, folded and drawn by inferno: `cargo install inferno`).
#
# Usage: scripts/profile.sh [RATE] [SECONDS]     (defaults: 10000, 10)
# Needs: a release build (`cargo build --release --bins`), perf, psql, and
# PostgreSQL and Redis as for the benchmarks. Writes to bench-results/profile-<time>/.
set -euo pipefail

rate=${1:-10000}
seconds=${2:-10}
out="bench-results/profile-$(date +%s)"
mkdir -p "$out"
psql_admin=(psql -h 127.0.0.1 -U postgres -Atq)

# Long enough a window for both recordings, with room to reach steady state.
target/release/upwatch-bench ceiling --rates "$rate" --window $((seconds * 2 + 60)) \
    >"$out/ceiling.log" 2>&1 &
bench=$!
trap 'kill $bench 2>/dev/null || true' EXIT

# Results stored so far in the run's database ($db).
count() { "${psql_admin[@]}" -d "$db" -c "SELECT count(*) FROM probe_results" 2>/dev/null || echo 0; }

echo "waiting for $rate probes/s to be stored..."
deadline=$((SECONDS + 300))
while :; do
    ((SECONDS < deadline)) || { echo "no steady state within 300 s; see $out/ceiling.log" >&2; exit 1; }
    sleep 2
    pid=$(pgrep -n -f "upwatch serve" || true)
    # The run's database is the one in use: one an earlier, killed run left behind has no connections.
    db=$("${psql_admin[@]}" -c "SELECT datname FROM pg_stat_activity WHERE datname LIKE 'upwatch_bench_%' GROUP BY datname ORDER BY max(backend_start) DESC LIMIT 1")
    [[ -n $pid && -n $db ]] || continue
    before=$(count)
    sleep 2
    after=$(count)
    (((after - before) / 2 >= rate * 95 / 100)) && break
done

echo "recording the machine for $seconds s..."
perf record -a -F 499 -o "$out/machine.data" -- sleep "$seconds" 2>/dev/null
perf report -i "$out/machine.data" --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9]' >"$out/machine.txt"

echo "recording upwatch (pid $pid) for $seconds s..."
perf record -F 299 --call-graph dwarf,32768 -p "$pid" -o "$out/upwatch.data" -- sleep "$seconds" 2>/dev/null
perf script -i "$out/upwatch.data" 2>/dev/null | inferno-collapse-perf >"$out/upwatch.folded"
inferno-flamegraph --title "upwatch at $rate probes/s" <"$out/upwatch.folded" >"$out/upwatch.svg"
rm -f "$out/upwatch.data"

wait "$bench" || true
trap - EXIT
echo
echo "CPU of the whole machine by process (100% = both cores):"
head -8 "$out/machine.txt"
echo
grep "monitors at" "$out/ceiling.log" || true
echo "flamegraph: $out/upwatch.svg"

# Sourced by the profiling scripts: starts the ceiling scenario at one rate
# and waits until the pipeline stores that many results per second.
# Needs $rate, $window and $out; sets $bench (the harness's pid), $pid
# (upwatch's), $db (the run's database) and the function `count`.
# UPWATCH=PATH measures another upwatch binary (say, a copy of the last build);
# WORKLOAD=http|tcp|body|json picks what the monitors check (default http).

psql_admin=(psql -h 127.0.0.1 -U postgres -Atq)

target/release/upwatch-bench ceiling --rates "$rate" --window "$window" ${UPWATCH:+--upwatch "$UPWATCH"} \
    ${WORKLOAD:+--workload "$WORKLOAD"} \
    >"$out/ceiling.log" 2>&1 &
bench=$!
trap 'kill $bench 2>/dev/null || true' EXIT

# Results stored so far in the run's database.
count() { "${psql_admin[@]}" -d "$db" -c "SELECT count(*) FROM probe_results" 2>/dev/null || echo 0; }

echo "waiting for $rate probes/s to be stored..."
deadline=$((SECONDS + 300))
while :; do
    ((SECONDS < deadline)) || { echo "no steady state within 300 s; see $out/ceiling.log" >&2; exit 1; }
    sleep 2
    pid=$(pgrep -n -f "upwatch[^ ]* serve" || true)
    # The run's database is the one in use: one an earlier, killed run left behind has no connections.
    db=$("${psql_admin[@]}" -c "SELECT datname FROM pg_stat_activity WHERE datname LIKE 'upwatch_bench_%' GROUP BY datname ORDER BY max(backend_start) DESC LIMIT 1")
    [[ -n $pid && -n $db ]] || continue
    before=$(count)
    sleep 2
    after=$(count)
    (((after - before) / 2 >= rate * 95 / 100)) && break
done

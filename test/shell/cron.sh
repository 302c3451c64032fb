#!/usr/bin/env bash
# pg_cron schedules isoforest.refresh: a job refreshes the anomaly view and
# cron.job_run_details records that it succeeded. Needs pg_cron preloaded with
# cron.database_name = 'postgres' (test/run's cluster is); skipped otherwise.
# pg_cron 1.4 (Debian 12) schedules by the minute, so this waits up to ~80 s.
set -u
db=isoforest_cron
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
export PGOPTIONS="-c client_min_messages=warning"
if ! q -d postgres -c "SHOW shared_preload_libraries" | grep -q pg_cron; then
    echo "1..0 # SKIP pg_cron is not in shared_preload_libraries"
    exit 0
fi
echo "1..3"
q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" -c "CREATE EXTENSION IF NOT EXISTS pg_cron"
q -d $db >/dev/null <<'SQL'
CREATE EXTENSION isoforest;
CREATE TABLE readings AS SELECT i AS id, (i % 50)::float8 AS v, (i % 7)::float8 AS w FROM generate_series(1, 300) i;
SELECT isoforest.train('readings', 'readings', ARRAY['v', 'w'], key => 'id', contamination => 0.05, seed => 1) IS NOT NULL;
SELECT isoforest.materialize('readings', 'readings_flagged') IS NOT NULL;
INSERT INTO readings VALUES (1000, 500, 70);
SQL
job=$(q -d postgres -c "SELECT cron.schedule_in_database('isoforest-refresh-test', '* * * * *',
                          \$\$SELECT isoforest.refresh('readings', retrain => true)\$\$, '$db')")
[ -n "$job" ] && echo "ok 1 - the refresh is scheduled with pg_cron" || echo "not ok 1 - the refresh is scheduled with pg_cron"
status=""
for _ in $(seq 1 85); do
    status=$(q -d postgres -c "SELECT status FROM cron.job_run_details WHERE jobid = $job AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1")
    [ -n "$status" ] && break
    sleep 1
done
[ "$status" = succeeded ] && echo "ok 2 - cron.job_run_details shows the refresh succeeded" \
    || echo "not ok 2 - cron.job_run_details shows the refresh succeeded # status: ${status:-none after 85 s} $(q -d postgres -c "SELECT return_message FROM cron.job_run_details WHERE jobid = $job LIMIT 1")"
out=$(q -d $db -c "SELECT count(*) || ' ' || max(anomaly) FILTER (WHERE id = 1000) FROM readings_flagged")
[ "$out" = "301 1" ] && echo "ok 3 - the view holds the new row, flagged" || echo "not ok 3 - the view holds the new row, flagged # got: $out"
q -d postgres -c "SELECT cron.unschedule($job)" >/dev/null
q -d postgres -c "DROP DATABASE IF EXISTS $db"

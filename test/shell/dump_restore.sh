#!/usr/bin/env bash
# pg_dump carries the registry: a dump restored into a new database scores identically,
# and its anomaly view refreshes there. TAP output; run by test/run (through prove).
set -u
src=isoforest_dump_src dst=isoforest_dump_dst
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
export PGOPTIONS="-c client_min_messages=warning"
echo "1..4"
for db in $src $dst; do q -d postgres -c "DROP DATABASE IF EXISTS $db"; done
q -d postgres -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"
q -d $src >/dev/null <<'SQL'
CREATE EXTENSION isoforest;
CREATE TABLE sites AS
SELECT i AS id, (ARRAY['a', 'b', 'c'])[1 + i % 3] AS kind, (i % 97)::float8 * 1.5 AS load, (i * 7 % 13) AS n
FROM generate_series(1, 500) AS i;
SELECT isoforest.train('sites', 'sites', ARRAY['log1p(load)', 'label(kind)', 'n'], key => 'id',
                       contamination => 0.05, seed => 3) IS NOT NULL;
SELECT isoforest.materialize('sites', 'sites_flagged') IS NOT NULL;
SQL
dump=$(mktemp /tmp/isoforest_dump.XXXXXX)
pg_dump -Fc -d $src -f "$dump" && pg_restore -d $dst "$dump"
rc=$?
rm -f "$dump"
[ $rc = 0 ] && echo "ok 1 - pg_dump and pg_restore succeed" || echo "not ok 1 - pg_dump and pg_restore succeed"

scores() { q -d "$1" -c "SELECT key || ' ' || anomaly_score || ' ' || is_anomaly FROM isoforest.detect('sites') ORDER BY key"; }
a=$(scores $src) b=$(scores $dst)
[ -n "$a" ] && [ "$a" = "$b" ] && echo "ok 2 - the restored model scores every row identically" \
    || echo "not ok 2 - the restored model scores every row identically"
models() { q -d "$1" -c "SELECT name, model::text, source::text, key, features::text, parameters::text, owner::text, view_name::text FROM isoforest.models"; }
[ "$(models $src)" = "$(models $dst)" ] && echo "ok 3 - the registry row is restored as it was" \
    || echo "not ok 3 - the registry row is restored as it was"
out=$(q -d $dst -c "INSERT INTO sites VALUES (9999, 'a', 1e9, 1)" -c "SELECT isoforest.refresh('sites', retrain => true)" \
        -c "SELECT count(*) || ' ' || max(anomaly) FILTER (WHERE id = 9999) FROM sites_flagged" 2>&1 | tail -n 1)
[ "$out" = "501 1" ] && echo "ok 4 - the restored model retrains, its view refreshes and flags a new outlier" \
    || echo "not ok 4 - the restored model retrains, its view refreshes and flags a new outlier # got: $out"
for db in $src $dst; do q -d postgres -c "DROP DATABASE IF EXISTS $db"; done

-- Peer groups find what one forest cannot: on test/data/peer_data.sql (8 groups of
-- 400 rows, planted 'peer' outliers ordinary for the population but extreme in their
-- group, and 'global' outliers), the peer model at contamination 0.08 flags at least
-- 90% of both kinds; one forest with the group label-encoded misses peer outliers.
\set ON_ERROR_STOP true
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(4);
\i test/data/peer_data.sql

SELECT isoforest.train('peer_quality_peer', 'peer_rows', ARRAY['a', 'b', 'c'], key => 'id',
                       group_by => 'grp', contamination => 0.08, seed => 1) IS NOT NULL AS trained \gset
SELECT isoforest.train('peer_quality_global', 'peer_rows', ARRAY['a', 'b', 'c', 'label(grp)'], key => 'id',
                       contamination => 0.08, seed => 1) IS NOT NULL AS trained \gset

CREATE TEMP TABLE recall AS
SELECT d.model_name, r.kind, avg(d.is_anomaly::int) AS recall
FROM peer_rows r
JOIN (SELECT 'peer' AS model_name, * FROM isoforest.detect('peer_quality_peer')
      UNION ALL SELECT 'global', * FROM isoforest.detect('peer_quality_global')) d ON d.key = r.id::text
WHERE r.kind <> 'normal'
GROUP BY d.model_name, r.kind;

SELECT cmp_ok(recall, '>=', 0.9::numeric, format('the peer model flags %s%% of planted %s outliers', round(100 * recall), kind))
FROM recall WHERE model_name = 'peer' ORDER BY kind;
SELECT cmp_ok((SELECT recall FROM recall WHERE model_name = 'global' AND kind = 'peer'), '<',
              (SELECT recall FROM recall WHERE model_name = 'peer' AND kind = 'peer'),
              'one forest with label(grp) finds fewer peer outliers than the peer model');
SELECT cmp_ok((SELECT recall FROM recall WHERE model_name = 'global' AND kind = 'global'), '>=', 0.9::numeric,
              'one forest still finds the global outliers');

SELECT * FROM finish();
ROLLBACK;

-- The facility workflow: features with transforms, train(), scoring rows by name,
-- detect(), the anomaly view and its refresh, overlap() and histogram().
SET extra_float_digits = 0;
SET client_min_messages = warning;
\set SHOW_CONTEXT never

-- feature text is parsed, never executed
SELECT f, (isoforest.parse_feature(f)).*
FROM unnest(ARRAY['total', 'log1p(total)', ' sqrt ( "Mixed Case" ) ', 'label(kind)', 'ln("a""b")', 'TOTAL']) AS f;
SELECT isoforest.parse_feature('cube(total)');
SELECT isoforest.parse_feature('log1p(total); DROP TABLE x');
SELECT isoforest.parse_feature('log1p(total');
SELECT isoforest.parse_feature('"unclosed');
SELECT isoforest.parse_feature('');

CREATE TABLE plants (
    id int PRIMARY KEY, kind text, total numeric, n_forms int, score real, note text);
INSERT INTO plants
SELECT i, (ARRAY['steel', 'food', 'paper', 'chem'])[1 + i % 4],
       round((100 + (i * 37) % 900)::numeric, 1), 1 + i % 7, (i % 50)::real, 'n' || i
FROM generate_series(1, 400) AS i;
-- a few odd plants
UPDATE plants SET total = 1e7, n_forms = 40 WHERE id IN (7, 77, 177);

SELECT isoforest.train('plants', 'plants', ARRAY['log1p(total)', 'sqrt(n_forms)', 'label(kind)', 'score'],
                       key => 'id', contamination => 0.05, seed => 1) IS NOT NULL AS trained;
SELECT name, source, key, features, parameters->'contamination' AS contamination, rows, rows_skipped,
       owner = current_user::regrole AS owned, view_name
FROM isoforest.models;
SELECT jsonb_pretty(isoforest.info(model)->'features') FROM isoforest.models WHERE name = 'plants';

-- scoring a row by name equals scoring its raw values (transforms applied by the model)
CREATE TABLE plants_numeric AS SELECT id, total, n_forms, score FROM plants;
SELECT isoforest.train('plants_numeric', 'plants_numeric', ARRAY['log1p(total)', 'sqrt(n_forms)', 'score'],
                       key => 'id', seed => 1) IS NOT NULL AS trained;
SELECT bool_and(isoforest.score(m.model, p) = isoforest.score(m.model, ARRAY[p.total, p.n_forms, p.score]::float8[]))
       AS row_equals_array
FROM plants_numeric p, isoforest.models m WHERE m.name = 'plants_numeric';
-- t, t.* and a row of another relation with the same columns all work
SELECT isoforest.score(m.model, p) = isoforest.score(m.model, p.*) AS star_form
FROM plants_numeric p, isoforest.models m WHERE m.name = 'plants_numeric' AND p.id = 1;
SELECT isoforest.score(m.model, r) = isoforest.score(m.model, p) AS other_relation
FROM plants_numeric p, isoforest.models m,
     LATERAL (SELECT 'x' AS extra, p.score::float8 AS score, p.n_forms::bigint AS n_forms, p.total) r
WHERE m.name = 'plants_numeric' AND p.id = 5;

-- the odd plants are flagged; an unseen label scores as its own code
SELECT id, isoforest.is_anomaly(m.model, p) AS flagged
FROM plants p, isoforest.models m WHERE m.name = 'plants' AND id IN (7, 77, 177, 8) ORDER BY id;
SELECT isoforest.score(m.model, ROW(1, 'glass', 500, 3, 10, 'x')::plants) IS NOT NULL AS unseen_label_scores
FROM isoforest.models m WHERE m.name = 'plants';

-- NULL or non-finite after a transform: NULL
SELECT isoforest.score(m.model, ROW(1, 'food', NULL, 3, 10, 'x')::plants) IS NULL AS null_column,
       isoforest.score(m.model, ROW(1, 'food', -5, 3, 10, 'x')::plants) IS NULL AS log1p_of_minus_five
FROM isoforest.models m WHERE m.name = 'plants';

-- a row without the model's columns, or with a column of the wrong type
SELECT isoforest.score(m.model, ROW(1, 2)) FROM isoforest.models m WHERE m.name = 'plants';
SELECT isoforest.score(m.model, r) FROM isoforest.models m,
       (SELECT 'a'::text AS total, 1 AS n_forms, 1.0 AS score) r WHERE m.name = 'plants_numeric';

-- detect(): every row, the same scores as the scalar form, LIMIT and ORDER BY as usual
SELECT count(*) AS rows, count(*) FILTER (WHERE is_anomaly) AS anomalies, count(grp) AS grouped
FROM isoforest.detect('plants');
SELECT bool_and(d.anomaly_score = isoforest.score(m.model, p)) AS same_as_scalar,
       bool_and(d.decision = (isoforest.info(m.model)->>'threshold')::float8 - d.anomaly_score) AS decision_ok
FROM isoforest.detect('plants') d JOIN plants p ON p.id::text = d.key, isoforest.models m WHERE m.name = 'plants';
SELECT key FROM isoforest.detect('plants') ORDER BY anomaly_score DESC LIMIT 3;
CREATE TABLE plants_2 AS SELECT * FROM plants WHERE id <= 10;
SELECT count(*) AS rows_of_other_relation FROM isoforest.detect('plants', 'plants_2');
SELECT * FROM isoforest.detect('no_such_model');

-- the anomaly view
SELECT isoforest.materialize('plants', 'plants_flagged');
SELECT count(*) AS rows, sum(anomaly) AS anomalies, min(anomaly) AS lo, max(anomaly) AS hi FROM plants_flagged;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'plants_flagged'::regclass AND attnum > 0 ORDER BY attnum;
SELECT indexdef FROM pg_indexes WHERE tablename = 'plants_flagged';
SELECT view_name FROM isoforest.models WHERE name = 'plants';

-- new rows and a retrain show up after refresh
INSERT INTO plants VALUES (1000, 'steel', 5e7, 60, 49, 'new');
SELECT count(*) AS before_refresh FROM plants_flagged;
SELECT isoforest.refresh('plants');
SELECT count(*) AS after_refresh, max(anomaly) FILTER (WHERE id = 1000) AS new_row_flagged FROM plants_flagged;
SELECT isoforest.refresh('plants', retrain => true);
SELECT rows FROM isoforest.models WHERE name = 'plants';

-- the original analysis' comparison and chart data
SELECT * FROM isoforest.overlap('plants', 'score', 0.05);
SELECT sum(anomaly_and_top + anomaly_only + top_only + neither) = (SELECT count(*) FROM plants) AS all_rows
FROM isoforest.overlap('plants', 'score');
SELECT count(*) AS bins, sum(normal + anomalies) AS rows, sum(anomalies) AS anomalies, sum(top) > 0 AS has_top,
       min(lower) AS lo, max(upper) AS hi
FROM isoforest.histogram('plants', 'score', 10);

-- bad input: clear errors, nothing changes
SELECT isoforest.train('plants', 'plants', ARRAY['score'], seed => 1);
SELECT isoforest.train('p2', 'plants', ARRAY['nope']);
SELECT isoforest.train('p2', 'plants', ARRAY['note']);
SELECT isoforest.train('p2', 'plants', ARRAY['cube(score)']);
SELECT isoforest.train('p2', 'plants', ARRAY[]::text[]);
SELECT isoforest.train('p2', 'plants', ARRAY['score'], n_trees => 0);
SELECT isoforest.train('p2', 'plants', ARRAY['score'], n_trees => 10001);
SELECT isoforest.train('p2', 'plants', ARRAY['score'], sample_size => 1);
SELECT isoforest.train('p2', 'plants', ARRAY['score'], max_features => 0);
SELECT isoforest.train('p2', 'plants', ARRAY['score'], contamination => 0.6);
SELECT isoforest.train('p2', 'plants', ARRAY['score'], key => 'kind');
SELECT isoforest.train('p2', 'plants', ARRAY['score'], key => 'nope');
SELECT isoforest.train('p2', 'plants', ARRAY['score'], group_by => 'kind', threshold_scope => 'everywhere');
SELECT isoforest.train('keyless', 'plants_2', ARRAY['log1p(score)'], seed => 1) IS NOT NULL AS keyless_trained;
SELECT isoforest.train('p3', '(SELECT 1)', ARRAY['score']);
CREATE TABLE tiny AS SELECT 1.0::float8 AS v UNION ALL SELECT NULL;
SELECT isoforest.train('p4', 'tiny', ARRAY['v']);
SELECT isoforest.materialize('keyless', 'x');
SELECT isoforest.materialize('no_such_model', 'x');
SELECT name FROM isoforest.models ORDER BY name;

-- only the owner (or a member of the owning role) may replace or refresh a model
CREATE ROLE isoforest_test_other;
GRANT SELECT ON plants, plants_flagged TO isoforest_test_other;
SET ROLE isoforest_test_other;
SELECT isoforest.refresh('plants');
SELECT isoforest.train('plants', 'plants', ARRAY['score'], replace => true);
DELETE FROM isoforest.models WHERE name = 'plants';
SELECT count(*) AS still_there FROM isoforest.models WHERE name = 'plants';
RESET ROLE;
REVOKE ALL ON plants, plants_flagged FROM isoforest_test_other;
DROP ROLE isoforest_test_other;

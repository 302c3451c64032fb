-- Training with isoforest.fit: options, skipped rows, determinism, edge cases.
SET extra_float_digits = 0;

CREATE TABLE fit_rows AS
SELECT i, ARRAY[(i * 37 % 101)::float8 / 101, (i * 53 % 97)::float8 / 97, ((i * 71) % 89)::float8]::float8[] AS x
FROM generate_series(1, 5000) AS i;

-- the model apart from when it was trained
CREATE FUNCTION fit_body(m isoforest.model) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$ SELECT m::text::jsonb - 'trained_at' $$;

-- defaults, as scikit-learn: 100 trees, psi 256, contamination auto
SELECT i->'n_trees' AS n_trees, i->'psi' AS psi, i->'sample_size' AS sample_size,
       i->'contamination' AS contamination, i->'threshold' AS threshold, i->'threshold_source' AS source,
       i->'max_depth' AS max_depth, i->'rows_used' AS rows_used, i->'seeded' AS seeded
FROM (SELECT isoforest.info(isoforest.fit(x)) AS i FROM fit_rows) s;

-- options
SELECT i->'n_trees' AS n_trees, i->'psi' AS psi, i->'max_features' AS max_features,
       i->'contamination' AS contamination, i->'threshold_source' AS source,
       i->'calibration_rows' AS calibration_rows, i->'seed' AS seed, i->'features' AS features
FROM (SELECT isoforest.info(isoforest.fit(x, '{"n_trees": 7, "sample_size": 64, "max_features": 0.5,
        "contamination": 0.1, "seed": 3, "feature_names": ["p", "q", "r"]}')) AS i FROM fit_rows) s;

-- contamination: the threshold flags that fraction of the training rows
SELECT round(avg(isoforest.is_anomaly(m, x)::int), 3) AS flagged
FROM fit_rows, (SELECT isoforest.fit(x, '{"contamination": 0.08, "seed": 1}') AS m FROM fit_rows) s;

-- a calibration sample smaller than the table: the threshold is estimated
SELECT i->'threshold_source' AS source, (i->>'calibration_rows')::int <= 1000 AS sampled
FROM (SELECT isoforest.info(isoforest.fit(x, '{"contamination": 0.08, "seed": 1, "calibration_size": 500}')) AS i
      FROM fit_rows) s;

-- same seed, same rows: same model; another seed: another model
SELECT fit_body(a) = fit_body(b) AS same_seed_same_model, fit_body(a) = fit_body(c) AS other_seed_same_model
FROM (SELECT isoforest.fit(x, '{"seed": 5, "contamination": 0.05}') AS a,
             isoforest.fit(x, '{"seed": 5, "contamination": 0.05}') AS b,
             isoforest.fit(x, '{"seed": 6, "contamination": 0.05}') AS c FROM fit_rows) s;

-- row order does not matter
SELECT fit_body((SELECT isoforest.fit(x, '{"seed": 5, "contamination": 0.05}') FROM (SELECT x FROM fit_rows ORDER BY i) o))
     = fit_body((SELECT isoforest.fit(x, '{"seed": 5, "contamination": 0.05}') FROM (SELECT x FROM fit_rows ORDER BY md5(i::text)) o))
       AS order_independent;

-- duplicated rows: the sample counts copies; still deterministic and order independent
CREATE TABLE dup_rows AS SELECT i, ARRAY[(i % 7)::float8, (i % 3)::float8] AS x FROM generate_series(1, 3000) i;
SELECT fit_body((SELECT isoforest.fit(x, '{"seed": 9, "contamination": 0.1}') FROM (SELECT x FROM dup_rows ORDER BY i) o))
     = fit_body((SELECT isoforest.fit(x, '{"seed": 9, "contamination": 0.1}') FROM (SELECT x FROM dup_rows ORDER BY i DESC) o))
       AS order_independent_with_duplicates,
       (SELECT isoforest.info(isoforest.fit(x, '{"seed": 9}'))->'psi' FROM dup_rows) AS psi;

-- NULL arrays, NULL elements, NaN and Infinity are skipped and counted
SELECT i->'rows_used' AS rows_used, i->'rows_skipped' AS rows_skipped
FROM (SELECT isoforest.info(isoforest.fit(x, '{"seed": 1}')) AS i FROM (VALUES
    (ARRAY[1.0, 2.0]::float8[]), (ARRAY[2.0, 3.0]), (ARRAY[5.0, 1.0]), (NULL), (ARRAY[1.0, NULL]),
    ('{NaN,1}'), ('{1,Infinity}'), ('{-Infinity,1}')) v(x)) s;

-- no usable rows: NULL, as aggregates give over empty input; scoring NULL is NULL
SELECT isoforest.fit(x) IS NULL AS empty_is_null FROM fit_rows WHERE false;
SELECT isoforest.fit(x) IS NULL AS all_skipped_is_null FROM (VALUES (NULL::float8[]), ('{NaN}')) v(x);
SELECT isoforest.score(NULL, ARRAY[1.0]) IS NULL AS null_model_scores_null;

-- one row: a valid, degenerate model that scores everything 0.5
SELECT i->'psi' AS psi, i->'n_nodes' AS n_nodes,
       isoforest.score(m, ARRAY[1.0, 2.0]) AS s_same, isoforest.score(m, ARRAY[100.0, -5.0]) AS s_far
FROM (SELECT m, isoforest.info(m) AS i FROM (SELECT isoforest.fit(ARRAY[1.0, 2.0]::float8[]) AS m) a) s;

-- one forest per group with GROUP BY
SELECT g, (isoforest.info(m)->>'rows_used')::int AS rows_used
FROM (SELECT i % 3 AS g, isoforest.fit(x, '{"seed": 1}') AS m FROM fit_rows GROUP BY 1) s ORDER BY g;

-- bad input: each is an ERROR that says what is wrong
SELECT isoforest.fit(x) FROM (VALUES (ARRAY[1.0, 2.0]::float8[]), (ARRAY[1.0, 2.0, 3.0])) v(x);
SELECT isoforest.fit(x) FROM (VALUES (ARRAY[[1.0, 2.0], [3.0, 4.0]]::float8[])) v(x);
SELECT isoforest.fit(x) FROM (VALUES ('{}'::float8[])) v(x);
SELECT isoforest.fit(x, '{"n_tree": 10}') FROM fit_rows;
SELECT isoforest.fit(x, '{"n_trees": 0}') FROM fit_rows;
SELECT isoforest.fit(x, '{"n_trees": 10001}') FROM fit_rows;
SELECT isoforest.fit(x, '{"n_trees": 2.5}') FROM fit_rows;
SELECT isoforest.fit(x, '{"sample_size": 1}') FROM fit_rows;
SELECT isoforest.fit(x, '{"max_features": 0}') FROM fit_rows;
SELECT isoforest.fit(x, '{"max_features": 1.5}') FROM fit_rows;
SELECT isoforest.fit(x, '{"contamination": 0}') FROM fit_rows;
SELECT isoforest.fit(x, '{"contamination": 0.6}') FROM fit_rows;
SELECT isoforest.fit(x, '{"contamination": "lots"}') FROM fit_rows;
SELECT isoforest.fit(x, '{"seed": "abc"}') FROM fit_rows;
SELECT isoforest.fit(x, '{"feature_names": ["a", "a", "b"]}') FROM fit_rows;
SELECT isoforest.fit(x, '{"feature_names": ["a", "b"]}') FROM fit_rows;
SELECT isoforest.fit(x, '[1, 2]') FROM fit_rows;

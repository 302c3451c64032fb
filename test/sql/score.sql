-- Scoring: score, decision, is_anomaly on feature arrays.
SET extra_float_digits = 0;

-- a cloud around the origin and a few far points
CREATE TABLE score_rows AS
SELECT i, ARRAY[cos(i * 2.4) * (1 + i % 5), sin(i * 2.4) * (1 + i % 5)]::float8[] AS x, false AS planted
FROM generate_series(1, 3000) AS i
UNION ALL
SELECT 3000 + i, ARRAY[40.0 + i, -40.0 - i]::float8[], true FROM generate_series(1, 10) AS i;

CREATE TABLE score_model AS
SELECT isoforest.fit(x, '{"seed": 42, "contamination": 0.01}') AS m FROM score_rows;

-- scores are in (0, 1]; planted points score highest and are all flagged
SELECT min(s) > 0 AND max(s) <= 1 AS in_range
FROM (SELECT isoforest.score(m, x) AS s FROM score_rows, score_model) q;
SELECT count(*) FILTER (WHERE planted) AS planted_in_top_10
FROM (SELECT planted FROM score_rows, score_model ORDER BY isoforest.score(m, x) DESC LIMIT 10) q;
SELECT bool_and(isoforest.is_anomaly(m, x)) AS all_planted_flagged FROM score_rows, score_model WHERE planted;

-- decision = threshold - score, and is_anomaly = decision < 0
SELECT bool_and(isoforest.decision(m, x) = (isoforest.info(m)->>'threshold')::float8 - isoforest.score(m, x))
         AS decision_is_threshold_minus_score,
       bool_and(isoforest.is_anomaly(m, x) = (isoforest.decision(m, x) < 0)) AS anomaly_iff_negative
FROM score_rows, score_model;

-- the model from a table row, a scalar subquery or a literal scores the same
SELECT bool_and(isoforest.score(sm.m, r.x) = isoforest.score((SELECT m FROM score_model), r.x)) AS join_eq_subquery
FROM score_rows r, score_model sm;

-- two different models in one column: the cache never mixes them up
CREATE TABLE two_models AS
SELECT 1 AS k, isoforest.fit(x, '{"seed": 1, "n_trees": 5}') AS m FROM score_rows
UNION ALL SELECT 2, isoforest.fit(x, '{"seed": 2, "n_trees": 5}') FROM score_rows;
SELECT count(DISTINCT s) AS distinct_scores
FROM (SELECT k, isoforest.score(m, ARRAY[1.5, -0.5]) AS s FROM two_models, generate_series(1, 3) g ORDER BY g, k) q;
SELECT bool_and(s = isoforest.score(m2, ARRAY[1.5, -0.5])) AS each_row_its_own_model
FROM (SELECT k, m AS m2, isoforest.score(m, ARRAY[1.5, -0.5]) AS s FROM two_models, generate_series(1, 3) g) q;

-- NULL, NaN and Infinity give NULL; so does a NULL model or array
SELECT isoforest.score(m, ARRAY[1.0, NULL]) IS NULL AS null_element,
       isoforest.score(m, '{NaN,1}'::float8[]) IS NULL AS nan,
       isoforest.decision(m, '{Infinity,1}'::float8[]) IS NULL AS inf,
       isoforest.is_anomaly(m, '{1,-Infinity}'::float8[]) IS NULL AS minus_inf,
       isoforest.score(m, NULL::float8[]) IS NULL AS null_array
FROM score_model;

-- wrong shapes: ERROR 22023 with both lengths
\set VERBOSITY sqlstate
SELECT isoforest.score(m, ARRAY[1.0]) FROM score_model;
\set VERBOSITY default
SELECT isoforest.score(m, ARRAY[1.0]) FROM score_model;
SELECT isoforest.score(m, ARRAY[1.0, 2.0, 3.0]) FROM score_model;
SELECT isoforest.decision(m, '{}'::float8[]) FROM score_model;
SELECT isoforest.is_anomaly(m, ARRAY[[1.0, 2.0]]) FROM score_model;

-- usable where IMMUTABLE is required: an index expression and UPDATE ... SET
CREATE TABLE scored AS SELECT i, x, NULL::float8 AS s FROM score_rows;
UPDATE scored SET s = isoforest.score((SELECT m FROM score_model), x);
SELECT count(*) FILTER (WHERE s IS NULL) AS unscored FROM scored;

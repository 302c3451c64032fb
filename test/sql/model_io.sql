-- The model type's text and binary forms round-trip exactly, and info() describes it.
SET extra_float_digits = 0;

CREATE TABLE io_rows AS
SELECT i, ARRAY[sin(i), cos(i * 0.7), (i % 13)::float8, sqrt(i)]::float8[] AS x
FROM generate_series(1, 2000) AS i;

CREATE TABLE io_models AS
SELECT 'auto' AS kind, isoforest.fit(x, '{"seed": 11, "n_trees": 20}') AS m FROM io_rows
UNION ALL
SELECT 'contaminated', isoforest.fit(x, '{"seed": 12, "n_trees": 20, "contamination": 0.05, "feature_names": ["a", "b", "c", "d"]}') FROM io_rows;

-- text: output -> input -> output is the same text, and scores are the same bits
SELECT kind, m::text::isoforest.model::text = m::text AS text_round_trip FROM io_models ORDER BY kind;
CREATE TABLE io_models_text AS SELECT kind, m::text::isoforest.model AS m2 FROM io_models;
SELECT kind, bool_and(isoforest.score(m, x) = isoforest.score(m2, x)) AS same_scores
FROM io_models JOIN io_models_text USING (kind), io_rows GROUP BY kind ORDER BY kind;

-- extra_float_digits does not change the text form
SET extra_float_digits = -15;
SELECT kind, m::text = (SELECT m2.m::text FROM io_models m2 WHERE m2.kind = io_models.kind) AS same_text
FROM io_models ORDER BY kind;
SET extra_float_digits = 0;

-- binary: COPY out and back in gives the same model
\copy io_models TO 'results/io_models.bin' WITH (FORMAT binary)
CREATE TABLE io_models_back (kind text, m isoforest.model);
\copy io_models_back FROM 'results/io_models.bin' WITH (FORMAT binary)
SELECT a.kind, a.m::text = b.m::text AS binary_round_trip
FROM io_models a JOIN io_models_back b USING (kind) ORDER BY kind;
SELECT kind, bool_and(isoforest.score(b.m, x) = isoforest.score(a.m, x)) AS same_scores
FROM io_models a JOIN io_models_back b USING (kind), io_rows GROUP BY kind ORDER BY kind;

-- info(): everything but the trees
SELECT kind,
       i - 'trained_at' - 'threshold' - 'seed' - 'size_bytes' - 'n_nodes' AS info,
       (i->>'threshold')::float8 BETWEEN 0 AND 1 AS threshold_in_range,
       (i->>'n_nodes')::int BETWEEN 20 AND 20 * 511 AS n_nodes_in_range,
       (i->>'size_bytes')::int > 0 AS has_size,
       i ? 'trained_at' AS has_trained_at
FROM io_models, isoforest.info(m) AS i ORDER BY kind;

-- a hand-written model: one split on a at 0.5
SELECT isoforest.info('{"format":1,"features":[{"name":"a"}],"n_trees":1,"psi":2,"threshold":0.5,
  "trees":[{"feature":[0,-1,-1],"threshold":[0.5,0,0],"left":[1,-1,-1],"right":[2,-1,-1],"size":[2,1,1]}]}'::isoforest.model)
  - 'trained_at' - 'size_bytes';
SELECT round(isoforest.score('{"format":1,"features":[{"name":"a"}],"n_trees":1,"psi":2,"threshold":0.5,
  "trees":[{"feature":[0,-1,-1],"threshold":[0.5,0,0],"left":[1,-1,-1],"right":[2,-1,-1],"size":[2,1,1]}]}', ARRAY[0.0])::numeric, 6) AS s;

-- transforms recorded in the model apply to array input: log1p(e - 1) = 1 goes right
SELECT isoforest.score(m, ARRAY[exp(1.0) - 1]) = isoforest.score(m, ARRAY[1.0]) AS same_side,
       isoforest.score(m, ARRAY[-1.0]) IS NULL AS log1p_of_minus_one_is_null
FROM (SELECT '{"format":1,"features":[{"name":"a","transform":"log1p"}],"n_trees":1,"psi":2,"threshold":0.5,
  "trees":[{"feature":[0,-1,-1],"threshold":[0.5,0,0],"left":[1,-1,-1],"right":[2,-1,-1],"size":[2,1,1]}]}'::isoforest.model AS m) s;

-- a model with label() features cannot be fed by an array
SELECT isoforest.score('{"format":1,"features":[{"name":"c","transform":"label","labels":["x","y"]}],"n_trees":1,"psi":2,"threshold":0.5,
  "trees":[{"feature":[0,-1,-1],"threshold":[0.5,0,0],"left":[1,-1,-1],"right":[2,-1,-1],"size":[2,1,1]}]}', ARRAY[0.0]);

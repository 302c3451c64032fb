-- compat 'sklearn': options, errors, float32 inputs, order, and registering an imported model.
SET extra_float_digits = 0;
SET client_min_messages = warning;
\set SHOW_CONTEXT never

CREATE TABLE pts AS
SELECT i, ARRAY[sin(i * 0.37) * 3, cos(i * 0.11) + (i % 7), (i % 13)::float8]::float8[] AS x
FROM generate_series(1, 1000) AS i;

-- the model records compat and scores inputs rounded to float32, as scikit-learn does
CREATE TABLE cm AS SELECT isoforest.fit(x, '{"compat": "sklearn", "seed": 3, "n_trees": 20}' ORDER BY i) AS m FROM pts;
SELECT i->'compat' AS compat, i->'psi' AS psi, i->'threshold' AS threshold, i->'n_trees' AS n_trees,
       m::text::isoforest.model::text = m::text AS text_round_trip
FROM cm, isoforest.info(m) AS i;
SELECT isoforest.score(m, ARRAY[0.1, 1.0, 2.0]) = isoforest.score(m, ARRAY[0.1 + 1e-12, 1.0, 2.0]) AS float32_rounded
FROM cm;
-- the order of the rows is part of the model in this mode
SELECT (SELECT m::text::jsonb->'trees' FROM cm)
     = (SELECT isoforest.fit(x, '{"compat": "sklearn", "seed": 3, "n_trees": 20}' ORDER BY i DESC)::text::jsonb->'trees'
        FROM pts) AS order_independent;
-- max_samples, bootstrap and integer max_features
SELECT isoforest.info(isoforest.fit(x, '{"compat": "sklearn", "seed": 1, "n_trees": 5, "max_samples": 0.1,
                                         "max_features": 2, "bootstrap": true}' ORDER BY i)) - 'trained_at' - 'size_bytes' - 'n_nodes'
FROM pts;

-- errors
SELECT isoforest.fit(x, '{"compat": "sklearn"}' ORDER BY i) FROM pts;
SELECT isoforest.fit(x, '{"compat": "sklearn", "seed": -1}' ORDER BY i) FROM pts;
SELECT isoforest.fit(x, '{"compat": "numpy", "seed": 1}' ORDER BY i) FROM pts;
SELECT isoforest.fit(x, '{"bootstrap": true, "seed": 1}') FROM pts;
SELECT isoforest.fit(x, '{"compat": "sklearn", "seed": 1, "max_features": 4}' ORDER BY i) FROM pts;
SELECT isoforest.fit(x, '{"compat": "sklearn", "seed": 1, "calibration_size": 10}' ORDER BY i) FROM pts;
CREATE TABLE pts_t AS SELECT i AS id, x[1] AS a, x[2] AS b FROM pts;
SELECT isoforest.train('c1', 'pts_t', ARRAY['a', 'b'], seed => 1, compat => 'sklearn');
SELECT isoforest.train('c1', 'pts_t', ARRAY['a', 'b'], key => 'id', compat => 'sklearn');
SELECT isoforest.train('c1', 'pts_t', ARRAY['a', 'b'], key => 'id', seed => 1, compat => 'sklearn', group_by => 'a');
SELECT isoforest.train('c1', 'pts_t', ARRAY['a', 'b'], key => 'id', seed => 1, compat => 'R');
SELECT isoforest.train('c1', 'pts_t', ARRAY['a', 'b'], key => 'id', seed => 1, compat => 'sklearn') IS NOT NULL AS trained;

-- a model made elsewhere, registered under a name: detect and materialize work, retraining does not
SELECT isoforest.register('outside', (SELECT isoforest.fit(ARRAY[a, b], '{"feature_names": ["a", "b"], "seed": 2}') FROM pts_t),
                          'pts_t', key => 'id') IS NOT NULL AS registered;
SELECT name, features, parameters->'imported' AS imported FROM isoforest.models ORDER BY name;
SELECT count(*) AS scored FROM isoforest.detect('outside');
SELECT isoforest.materialize('outside', 'outside_flagged') IS NOT NULL AS materialized;
SELECT isoforest.refresh('outside');
SELECT isoforest.refresh('outside', retrain => true);
SELECT isoforest.register('outside', (SELECT m FROM cm), 'pts_t');

DROP MATERIALIZED VIEW outside_flagged;
DELETE FROM isoforest.models WHERE name IN ('c1', 'outside');

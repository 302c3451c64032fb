-- Quality: on five small labelled ODDS datasets, the mean ROC AUC over seeds 0..9
-- (100 trees, sample 256, fit and score on all rows) is within the acceptance bound
-- of scikit-learn 1.2.1's (figures: bench/sklearn_auc.tsv; bound: max(0.01,
-- 3 * sqrt(std_ours^2 + std_sklearn^2) / sqrt(10))).
\set ON_ERROR_STOP true
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(5);

CREATE TEMP TABLE raw (dataset text DEFAULT '', line text);
\copy raw (line) FROM 'test/data/breastw.csv'
UPDATE raw SET dataset = 'breastw' WHERE dataset = '';
\copy raw (line) FROM 'test/data/ionosphere.csv'
UPDATE raw SET dataset = 'ionosphere' WHERE dataset = '';
\copy raw (line) FROM 'test/data/pima.csv'
UPDATE raw SET dataset = 'pima' WHERE dataset = '';
\copy raw (line) FROM 'test/data/wbc.csv'
UPDATE raw SET dataset = 'wbc' WHERE dataset = '';
\copy raw (line) FROM 'test/data/glass.csv'
UPDATE raw SET dataset = 'glass' WHERE dataset = '';

CREATE TEMP TABLE points AS
SELECT dataset, row_number() OVER () AS id, v[1:cardinality(v) - 1] AS x, v[cardinality(v)] = 1 AS outlier
FROM (SELECT dataset, string_to_array(line, ',')::float8[] AS v FROM raw WHERE line NOT LIKE 'f1,%') s;

CREATE TEMP TABLE models AS
SELECT dataset, seed, isoforest.fit(x, jsonb_build_object('seed', seed)) AS m
FROM points, generate_series(0, 9) AS seed GROUP BY dataset, seed;

-- AUC by Mann-Whitney, ties counted half (average ranks)
CREATE TEMP TABLE aucs AS
SELECT dataset, seed,
       (sum(r) FILTER (WHERE outlier) - n_pos * (n_pos + 1) / 2.0) / (n_pos * (n - n_pos)) AS auc
FROM (SELECT dataset, seed, outlier,
             rank() OVER w + (count(*) OVER (PARTITION BY dataset, seed, s) - 1) / 2.0 AS r,
             count(*) FILTER (WHERE outlier) OVER (PARTITION BY dataset, seed) AS n_pos,
             count(*) OVER (PARTITION BY dataset, seed) AS n
      FROM (SELECT p.dataset, seed, outlier, isoforest.score(m, x) AS s
            FROM points p JOIN models USING (dataset)) scored
      WINDOW w AS (PARTITION BY dataset, seed ORDER BY s)) ranked
GROUP BY dataset, seed, n_pos, n;

CREATE TEMP TABLE sklearn (dataset text, mean float8, std float8);
INSERT INTO sklearn VALUES
    ('breastw', 0.9873, 0.0013), ('ionosphere', 0.8563, 0.0053), ('pima', 0.6707, 0.0070),
    ('wbc', 0.9404, 0.0057), ('glass', 0.7010, 0.0163);

SELECT ok(abs(o.mean - s.mean) <= greatest(0.01, 3 * sqrt(o.std ^ 2 + s.std ^ 2) / sqrt(10)),
          format('%s: mean AUC %s (std %s) vs scikit-learn %s (std %s)',
                 s.dataset, round(o.mean::numeric, 4), round(o.std::numeric, 4), s.mean, s.std))
FROM sklearn s
JOIN (SELECT dataset, avg(auc) AS mean, stddev_pop(auc) AS std FROM aucs GROUP BY dataset) o USING (dataset)
ORDER BY dataset;

SELECT * FROM finish();
ROLLBACK;

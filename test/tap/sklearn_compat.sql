-- scikit-learn parity: isoforest.fit(x, '{"compat": "sklearn", ...}' ORDER BY i) grows
-- the forest scikit-learn 1.2.1's IsolationForest grows on the same rows in the same
-- order.  The fixture test/data/sklearn_fixtures.sql (written by
-- tools/sklearn_fixtures.py) holds 16 cases: their rows, the fit options, and
-- scikit-learn's trees, -offset_, -score_samples(X) and predict(X) == -1.  Per case:
--   * the trees are identical: every node's feature (global index), threshold (the
--     same double), children and size, compared as jsonb;
--   * the threshold t = -offset_ is within 1e-15, absolute (|t - t_sklearn| <= 1e-15);
--   * every training row's isoforest.score is within 1e-15, absolute, of
--     -score_samples (both are in (0, 1]).  The fixtures are scikit-learn's scores
--     with numpy's AVX-512 log and pow turned off, which isoforest (glibc) matches
--     to the bit; with them on, scikit-learn's own last bit moves by up to 2 ulp
--     (2.2e-16), and another libm could do the same on isoforest's side;
--   * isoforest.is_anomaly matches predict == -1 on every training row.
\set ON_ERROR_STOP true
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(1 + 16 * 4);

\i test/data/sklearn_fixtures.sql

SELECT is((SELECT count(*) FROM skl_expect), 16::bigint, 'the fixture holds 16 cases');

CREATE TEMP TABLE fitted AS
SELECT e.case_name,
       (SELECT isoforest.fit(r.x, e.options ORDER BY r.i) FROM skl_rows r WHERE r.case_name = e.case_name) AS m
FROM skl_expect e;

-- The first node where two lists of trees differ, as text; NULL when they are equal.
CREATE FUNCTION pg_temp.first_difference(got jsonb, want jsonb) RETURNS text LANGUAGE sql AS $$
    WITH g AS (SELECT t, k, e, v
               FROM jsonb_array_elements(got) WITH ORDINALITY AS a(tree, t),
                    jsonb_each(tree) AS b(k, arr),
                    jsonb_array_elements(arr) WITH ORDINALITY AS c(v, e)),
         w AS (SELECT t, k, e, v
               FROM jsonb_array_elements(want) WITH ORDINALITY AS a(tree, t),
                    jsonb_each(tree) AS b(k, arr),
                    jsonb_array_elements(arr) WITH ORDINALITY AS c(v, e))
    SELECT CASE WHEN got IS NOT DISTINCT FROM want THEN NULL
                WHEN jsonb_typeof(got) IS DISTINCT FROM 'array' THEN 'no trees: ' || coalesce(got::text, 'NULL')
                WHEN jsonb_array_length(got) <> jsonb_array_length(want)
                    THEN format('%s trees, expected %s', jsonb_array_length(got), jsonb_array_length(want))
                ELSE coalesce((SELECT format('tree %s node %s %s: %s, expected %s', t - 1, e - 1, k,
                                             coalesce(g.v::text, 'none'), coalesce(w.v::text, 'none'))
                               FROM g FULL JOIN w USING (t, k, e)
                               WHERE g.v IS DISTINCT FROM w.v
                               ORDER BY t, e, k LIMIT 1), 'the trees differ')
           END
$$;

CREATE TEMP TABLE results AS
SELECT e.case_name,
       pg_temp.first_difference(f.m::text::jsonb -> 'trees', e.trees) AS tree_difference,
       (f.m::text::jsonb ->> 'threshold')::float8 AS threshold,
       e.threshold AS sklearn_threshold,
       s.max_score_diff, s.n, s.label_mismatches, s.flagged, s.sklearn_flagged
FROM skl_expect e
JOIN fitted f USING (case_name)
JOIN LATERAL (
    SELECT max(abs(isoforest.score(f.m, r.x) - e.scores[r.i])) AS max_score_diff,
           count(*) AS n,
           count(*) FILTER (WHERE isoforest.is_anomaly(f.m, r.x) IS DISTINCT FROM e.labels[r.i]) AS label_mismatches,
           count(*) FILTER (WHERE isoforest.is_anomaly(f.m, r.x)) AS flagged,
           count(*) FILTER (WHERE e.labels[r.i]) AS sklearn_flagged
    FROM skl_rows r WHERE r.case_name = e.case_name) s ON true;

SELECT is(tree_difference, NULL, case_name || ': trees identical (feature, threshold, left, right, size)')
FROM results ORDER BY case_name;

SELECT ok(abs(threshold - sklearn_threshold) <= 1e-15,
          format('%s: threshold %s within 1e-15 (absolute) of -offset_ %s',
                 case_name, threshold, sklearn_threshold))
FROM results ORDER BY case_name;

SELECT ok(max_score_diff <= 1e-15,
          format('%s: all %s scores within 1e-15 (absolute) of -score_samples; largest difference %s',
                 case_name, n, max_score_diff))
FROM results ORDER BY case_name;

SELECT is(label_mismatches, 0::bigint,
          format('%s: is_anomaly = (predict == -1) on all %s rows (%s flagged, scikit-learn %s)',
                 case_name, n, flagged, sklearn_flagged))
FROM results ORDER BY case_name;

SELECT * FROM finish();
ROLLBACK;

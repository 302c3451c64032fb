-- A forced parallel plan trains the same model as a serial plan.
CREATE TABLE par_rows AS
SELECT i, ARRAY[(i::bigint * 7919 % 10007)::float8, (i::bigint * 104729 % 1009)::float8, (i % 17)::float8]::float8[] AS x
FROM generate_series(1, 200000) AS i;
ANALYZE par_rows;

CREATE FUNCTION par_body(m isoforest.model) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$ SELECT m::text::jsonb - 'trained_at' $$;

SET max_parallel_workers_per_gather = 0;
CREATE TABLE serial_model AS SELECT isoforest.fit(x, '{"seed": 77, "contamination": 0.08}') AS m FROM par_rows;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT isoforest.fit(x, '{"seed": 77, "contamination": 0.08}') FROM par_rows;
CREATE TABLE parallel_model AS SELECT isoforest.fit(x, '{"seed": 77, "contamination": 0.08}') AS m FROM par_rows;

SELECT par_body(s.m) = par_body(p.m) AS parallel_equals_serial FROM serial_model s, parallel_model p;

-- scoring in parallel gives the same scores
EXPLAIN (COSTS OFF) SELECT sum(isoforest.score(m, x)) FROM par_rows, serial_model;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE serial_scores AS SELECT i, isoforest.score(m, x) AS s FROM par_rows, serial_model;
SET max_parallel_workers_per_gather = 2;
CREATE TABLE parallel_scores AS SELECT i, isoforest.score(m, x) AS s FROM par_rows, serial_model;
SELECT count(*) AS rows, count(*) FILTER (WHERE a.s = b.s) AS equal_scores
FROM serial_scores a JOIN parallel_scores b USING (i);

-- the aggregate's state has exact text I/O (Citus ships partial states as text):
-- a state that goes through text and back finishes into the same model
RESET max_parallel_workers_per_gather;
CREATE AGGREGATE fit_partial(float8[], jsonb) (SFUNC = isoforest.fit_transfn, STYPE = isoforest.fit_state);
CREATE TABLE partial AS SELECT fit_partial(x, '{"seed": 77, "contamination": 0.08}') AS st FROM par_rows;
SELECT par_body(isoforest.fit_finalfn(st::text::isoforest.fit_state)) = par_body(isoforest.fit_finalfn(st))
         AS state_text_round_trip,
       par_body(isoforest.fit_finalfn(st)) = par_body(m) AS partial_then_final_equals_fit
FROM partial, serial_model;
\copy partial TO 'results/partial.bin' WITH (FORMAT binary)
CREATE TABLE partial_back (st isoforest.fit_state);
\copy partial_back FROM 'results/partial.bin' WITH (FORMAT binary)
SELECT par_body(isoforest.fit_finalfn(b.st)) = par_body(isoforest.fit_finalfn(p.st)) AS state_binary_round_trip
FROM partial p, partial_back b;

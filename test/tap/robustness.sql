-- Robustness: random and truncated bytes fed to binary input, truncated text, garbage
-- states, and cancellation. Every bad input is an ERROR; the server stays up.
\set ON_ERROR_STOP true
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(12);

CREATE TEMP TABLE good AS
SELECT isoforest.fit(ARRAY[i % 17, i % 5, sqrt(i)]::float8[], '{"seed": 3, "n_trees": 3, "sample_size": 16}') AS m
FROM generate_series(1, 500) AS i;
CREATE TEMP TABLE landed (m isoforest.model);

-- Feed bytes to isoforest.model's receive function through COPY ... (FORMAT binary):
-- returns 'accepted' or the SQLSTATE of the error.
CREATE FUNCTION pg_temp.recv_bytes(payload bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    file text := '/tmp/isoforest_fuzz_' || pg_backend_pid() || '.bin';
    lo oid;
BEGIN
    lo := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea          -- PGCOPY signature
                           || '\x0000000000000000'::bytea             -- flags, header extension
                           || '\x0001'::bytea                         -- one field
                           || int4send(length(payload)) || payload
                           || '\xffff'::bytea);                       -- trailer
    PERFORM lo_export(lo, file);
    PERFORM lo_unlink(lo);
    BEGIN
        EXECUTE format('COPY landed FROM %L WITH (FORMAT binary)', file);
        RETURN 'accepted';
    EXCEPTION WHEN OTHERS THEN
        RETURN SQLSTATE;
    END;
END $$;

SELECT is(pg_temp.recv_bytes(isoforest.model_send(m)), 'accepted', 'a model''s own bytes are accepted')
FROM good;

-- 300 corruptions: random bytes overwritten, random truncations, random garbage
CREATE TEMP TABLE attempts AS
WITH base AS (SELECT isoforest.model_send(m) AS b FROM good),
     cases AS (
        SELECT k, CASE k % 3
            WHEN 0 THEN overlay(b PLACING decode(lpad(to_hex((random() * 255)::int), 2, '0'), 'hex')
                                FROM 1 + (random() * (length(b) - 1))::int)
            WHEN 1 THEN substring(b FROM 1 FOR (random() * (length(b) - 1))::int)
            ELSE decode(md5(random()::text) || md5(random()::text), 'hex') END AS payload
        FROM base, generate_series(1, 300) AS k)
SELECT k, payload, pg_temp.recv_bytes(payload) AS outcome FROM cases;

SELECT is_empty($$SELECT outcome FROM attempts WHERE outcome NOT IN ('accepted', '22P03', '08P01', '22021')$$,
                'every corrupt binary model is accepted or refused with 22P03, 08P01 or 22021 (bad encoding)');
SELECT cmp_ok((SELECT count(*) FROM attempts WHERE outcome <> 'accepted'), '>=', 250::bigint,
              'most corruptions are refused');
-- whatever was accepted is a consistent model: it scores, and reads back the same
SELECT lives_ok($$SELECT isoforest.score(m, ARRAY[1.0, 2.0, 3.0]), isoforest.info(m),
                         m::text::isoforest.model::text = m::text FROM landed$$,
                'every accepted model scores and round-trips');

-- every truncation of the text form is refused
CREATE FUNCTION pg_temp.text_outcome(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM t::isoforest.model;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
SELECT is_empty($$SELECT k, o FROM (SELECT k, pg_temp.text_outcome(left(m::text, k)) AS o
                                  FROM good, generate_series(0, length(m::text) - 1, 13) AS k) s
                  WHERE o <> '22P02'$$,
                'every truncated text model is refused with 22P02');
SELECT throws_ok($$SELECT 'aGVsbG8gd29ybGQ='::isoforest.fit_state$$, '22P02', NULL,
                 'a garbage aggregate state is refused');

-- forged aggregate states (any user can hand one to fit_finalfn or an INITCOND): refused
CREATE AGGREGATE pg_temp.fit_partial(float8[], jsonb) (SFUNC = isoforest.fit_transfn, STYPE = isoforest.fit_state);
CREATE TEMP TABLE st AS
SELECT isoforest.fit_state_send(pg_temp.fit_partial(ARRAY[i, i % 3]::float8[], '{"seed": 1}')) AS b
FROM generate_series(1, 50) AS i;
-- header offsets in the portable form (0-based): calib_cap at 24, rows_used at 92
SELECT is(encode(substring(b FROM 93 FOR 8), 'hex'), '0000000000000032', 'rows_used sits at byte 92 (50 rows)')
FROM st;
SELECT throws_ok($$SELECT translate(encode(overlay(b PLACING '\x00000000'::bytea FROM 25), 'base64'), E'\n', '')::isoforest.fit_state FROM st$$,
                 '22P02', 'invalid isoforest.fit_state value', 'a state with no room for its rows is refused');
SELECT throws_ok($$SELECT translate(encode(overlay(b PLACING '\x00000000000003e8'::bytea FROM 93), 'base64'), E'\n', '')::isoforest.fit_state FROM st$$,
                 '22P02', 'invalid isoforest.fit_state value', 'a state whose samples do not hold its row count is refused');
-- a compat state whose one slot claims every row would make the final function read past it
CREATE TEMP TABLE cst AS
SELECT isoforest.fit_state_send(pg_temp.fit_partial(ARRAY[i]::float8[], '{"compat": "sklearn", "seed": 1, "n_trees": 1}')) AS b
FROM generate_series(1, 1) AS i;
-- one tree: the header (124 bytes), its fill and limit (12), then the slot: hash (8), count at 144
SELECT throws_ok($$SELECT translate(encode(overlay(overlay(b PLACING '\x00000000000003e8'::bytea FROM 93)
                                         PLACING '\x00000000000003e8'::bytea FROM 145), 'base64'), E'\n', '')::isoforest.fit_state
                   FROM cst$$,
                 '22P02', 'invalid isoforest.fit_state value', 'a compat state with fewer slots than rows is refused');
SELECT throws_ok($$SELECT translate(encode(overlay(b PLACING '\x7fffffff'::bytea FROM 25), 'base64'), E'\n', '')::isoforest.fit_state FROM st$$,
                 '22P02', 'invalid isoforest.fit_state value', 'a state asking for huge buffers is refused before allocating them');

-- a long training run can be cancelled (pgTAP's throws_ok cannot catch a cancel)
CREATE FUNCTION pg_temp.cancelled(q text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN false;
EXCEPTION WHEN query_canceled THEN
    RETURN true;
END $$;
SET statement_timeout = '300ms';
CREATE TEMP TABLE cancel_result AS
SELECT pg_temp.cancelled($$SELECT isoforest.fit(ARRAY[i, i % 7]::float8[], '{"contamination": 0.1}')
                           FROM generate_series(1, 20000000) AS i$$) AS cancelled;
RESET statement_timeout;
SELECT ok(cancelled, 'statement_timeout cancels a long fit') FROM cancel_result;

SELECT * FROM finish();
ROLLBACK;

-- Catalog lint: every function of the extension has the intended markings and a comment.
\set ON_ERROR_STOP true
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(10);

CREATE TEMP VIEW ext_functions AS
SELECT p.oid, p.oid::regprocedure::text AS signature, p.prokind, p.provolatile, p.proisstrict,
       p.proparallel, p.prosecdef, p.proconfig, p.prolang
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'isoforest';

SELECT cmp_ok((SELECT count(*) FROM ext_functions), '>=', 18::bigint, 'the extension owns its functions');

SELECT is_empty($$SELECT signature FROM ext_functions WHERE obj_description(oid, 'pg_proc') IS NULL$$,
                'every function and aggregate has a COMMENT');

SELECT is_empty($$SELECT signature FROM ext_functions WHERE proparallel <> 's'$$,
                'every function is PARALLEL SAFE');

SELECT is_empty($$SELECT signature FROM ext_functions WHERE prosecdef$$,
                'no function is SECURITY DEFINER');

SELECT is_empty($$SELECT signature FROM ext_functions WHERE provolatile <> 'i'$$,
                'every function is IMMUTABLE (a model is a value: scoring depends only on its arguments)');

SELECT is_empty($$SELECT signature FROM ext_functions
                  WHERE prokind = 'f' AND NOT proisstrict
                    AND signature NOT LIKE 'isoforest.fit\_%fn(%'$$,
                'every non-aggregate-support function is STRICT');

SELECT is_empty($$SELECT signature FROM ext_functions
                  WHERE proisstrict AND signature LIKE 'isoforest.fit\_%fn(%'$$,
                'aggregate support functions are not strict: they handle NULL rows and states');

SELECT is_empty($$SELECT a.aggfnoid::regprocedure::text FROM pg_aggregate a JOIN ext_functions f ON f.oid = a.aggfnoid
                  WHERE a.aggcombinefn = 0 OR a.aggtranstype = 'internal'::regtype$$,
                'aggregates have a combine function and a real (non-internal) state type, as Citus needs');

SELECT is_empty($$SELECT typname FROM pg_type
                  WHERE typnamespace = 'isoforest'::regnamespace AND typtype = 'b'
                    AND (typsend = 0 OR typreceive = 0 OR typalign <> 'd')$$,
                'the types have binary I/O and double alignment');

SELECT is_empty($$SELECT signature FROM ext_functions f JOIN pg_language l ON l.oid = f.prolang
                  WHERE l.lanname IN ('sql', 'plpgsql')
                    AND NOT coalesce(f.proconfig::text LIKE '%search_path%', false)$$,
                'every SQL and PL/pgSQL function pins its search_path');

SELECT * FROM finish();
ROLLBACK;

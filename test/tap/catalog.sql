-- Catalog lint: every function of the extension has the intended markings and a comment.
\set ON_ERROR_STOP true
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(11);

CREATE TEMP VIEW ext_functions AS
SELECT p.oid, p.oid::regprocedure::text AS signature, p.prokind, p.provolatile, p.proisstrict,
       p.proparallel, p.prosecdef, p.proconfig, p.prolang
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'isoforest';

SELECT cmp_ok((SELECT count(*) FROM ext_functions), '>=', 29::bigint, 'the extension owns its functions');

SELECT is_empty($$SELECT signature FROM ext_functions WHERE obj_description(oid, 'pg_proc') IS NULL$$,
                'every function and aggregate has a COMMENT');

-- functions that read the registry or run DDL are the only ones allowed other markings
CREATE TEMP VIEW registry_functions AS
SELECT unnest(ARRAY['isoforest.train', 'isoforest.detect', 'isoforest.materialize', 'isoforest.refresh',
                    'isoforest.overlap', 'isoforest.histogram', 'isoforest.register']) AS fname;

SELECT is_empty($$SELECT signature FROM ext_functions
                  WHERE proparallel <> 's' AND split_part(signature, '(', 1) NOT IN (SELECT fname FROM registry_functions)$$,
                'every function but the registry ones is PARALLEL SAFE');

SELECT is_empty($$SELECT signature FROM ext_functions WHERE prosecdef$$,
                'no function is SECURITY DEFINER');

SELECT is_empty($$SELECT signature FROM ext_functions
                  WHERE provolatile <> 'i' AND split_part(signature, '(', 1) NOT IN (SELECT fname FROM registry_functions)$$,
                'every function but the registry ones is IMMUTABLE (a model is a value)');
SELECT results_eq($$SELECT split_part(signature, '(', 1), provolatile::text, proparallel::text FROM ext_functions
                    WHERE split_part(signature, '(', 1) IN (SELECT fname FROM registry_functions) ORDER BY 1$$,
                  $$VALUES ('isoforest.detect', 's', 'r'), ('isoforest.histogram', 's', 'u'),
                           ('isoforest.materialize', 'v', 'u'), ('isoforest.overlap', 's', 'u'),
                           ('isoforest.refresh', 'v', 'u'), ('isoforest.register', 'v', 'u'),
                           ('isoforest.train', 'v', 'u')$$,
                  'registry functions: detect STABLE PARALLEL RESTRICTED, overlap/histogram STABLE, DDL ones VOLATILE');

SELECT is_empty($$SELECT signature FROM ext_functions
                  WHERE prokind = 'f' AND NOT proisstrict
                    AND signature NOT LIKE 'isoforest.fit\_%fn(%'
                    AND signature NOT LIKE 'isoforest.%(isoforest.model,text,double precision[])'
                    AND split_part(signature, '(', 1) NOT IN (SELECT fname FROM registry_functions)$$,
                'every function is STRICT but the aggregate support, registry and (model, group, x) ones, which handle NULLs themselves (a NULL group means the global forest)');

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

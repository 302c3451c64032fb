-- test/data/peer_data.sql: deterministic peer-group data with planted outliers.
--
-- Builds the table peer_rows(id int PRIMARY KEY, grp text, a float8, b float8,
-- c float8, kind text) (dropped first if it exists): :n_groups groups of
-- :rows_per_group rows each, ids 1..n_groups*rows_per_group, group g holding ids
-- (g-1)*rows_per_group+1 .. g*rows_per_group and named 'g' || g zero-padded to the
-- width of n_groups ('g1'..'g8', 'g01'..'g20'), so names sort in level order.
--
-- psql variables (set with -v or \set before \i; defaults in brackets):
--   n_groups        number of groups [8]
--   rows_per_group  rows in each group [400]
--
-- Group g has the typical level mu_g = 10 * 1000^((g-1)/(n_groups-1)): the groups span
-- 10 (light) to 10000 (heavy) whatever their number.  A normal row of group g has
--   a = mu_g (1 + 0.1 z1),  b = 2 mu_g (1 + 0.1 z2),  c = 0.5 mu_g (1 + 0.1 z3)
-- with z1, z2, z3 standard normal: each group is a tight cluster (coefficient of
-- variation 10%), and the clusters are far apart on a log scale.
--
-- Planted outliers, ground truth in kind:
--   'global'  about 0.5% of the rows of every group: one of a, b, c (chosen per row)
--             is 5 to 10 times the heaviest group's typical value of that feature, far
--             outside every group's range; the other two are normal for the row's group.
--   'peer'    about 2% of the rows of the light groups (g <= n_groups/2): a, b, c are
--             drawn as a normal row of a heavy group (one of g > n_groups/2, chosen per
--             row): ordinary for the population as a whole, extreme within their own group.
--   'normal'  every other row.
--
-- Nothing comes from random(): every number is a function of the row's id, through
-- hashtext(id || ':' || tag) mapped to a uniform in [0, 1) and Box-Muller for normals,
-- so every run builds the same table (hashtext is byte-order dependent: the same on
-- every little-endian machine).  The two helper functions are temporary (pg_temp).
--
-- Use:  psql -v n_groups=20 -v rows_per_group=1000 -f test/data/peer_data.sql
--       or, in a psql script,  \set n_groups 8  \ir ../data/peer_data.sql
-- then, e.g., isoforest.train('peer', 'peer_rows', ARRAY['a', 'b', 'c'], key => 'id',
-- group_by => 'grp', contamination => 0.08, seed => 1) and compare isoforest.detect's
-- flags with kind.

\if :{?n_groups}
\else
\set n_groups 8
\endif
\if :{?rows_per_group}
\else
\set rows_per_group 400
\endif

-- uniform in [0, 1) from the id and a tag
CREATE OR REPLACE FUNCTION pg_temp.peer_u(id int, tag text) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT (hashtext(id::text || ':' || tag)::float8 + 2147483648) / 4294967296 $$;

-- standard normal (Box-Muller; 1 - u is in (0, 1], so ln is finite)
CREATE OR REPLACE FUNCTION pg_temp.peer_z(id int, tag text) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT sqrt(-2 * ln(1 - pg_temp.peer_u(id, tag || '.1'))) * cos(2 * pi() * pg_temp.peer_u(id, tag || '.2')) $$;

DROP TABLE IF EXISTS peer_rows;
CREATE TABLE peer_rows (
    id   int PRIMARY KEY,
    grp  text NOT NULL,
    a    float8,
    b    float8,
    c    float8,
    kind text NOT NULL CHECK (kind IN ('normal', 'peer', 'global'))
);

INSERT INTO peer_rows (id, grp, a, b, c, kind)
WITH params AS (
    SELECT (:n_groups)::int AS n, (:rows_per_group)::int AS r
), rows AS (
    SELECT i AS id, (i - 1) / p.r + 1 AS g, p.n,
           pg_temp.peer_u(i, 'kind') AS u_kind
    FROM params p, generate_series(1, p.n * p.r) AS i
), kinds AS (
    SELECT id, g, n,
           CASE WHEN u_kind < 0.005 THEN 'global'
                WHEN 2 * g <= n AND u_kind < 0.025 THEN 'peer'
                ELSE 'normal' END AS kind
    FROM rows
), levels AS (
    -- the group whose distribution the row is drawn from (a heavy one for 'peer' rows),
    -- its level, and the heaviest level
    SELECT k.*, 10 * power(1000, (src - 1)::float8 / greatest(n - 1, 1)) AS mu,
           CASE WHEN n > 1 THEN 10000.0::float8 ELSE 10.0::float8 END AS mu_max
    FROM kinds k,
         LATERAL (SELECT CASE WHEN k.kind = 'peer'
                              THEN n / 2 + 1 + floor(pg_temp.peer_u(k.id, 'target') * (n - n / 2))::int
                              ELSE g END AS src) s
), drawn AS (
    SELECT id, g, n, kind, mu_max,
           floor(pg_temp.peer_u(id, 'far') * 3)::int AS far_feature,          -- 0 a, 1 b, 2 c
           5 + 5 * pg_temp.peer_u(id, 'far.size') AS far_factor,
           mu * (1 + 0.1 * pg_temp.peer_z(id, 'a')) AS a,
           2 * mu * (1 + 0.1 * pg_temp.peer_z(id, 'b')) AS b,
           0.5 * mu * (1 + 0.1 * pg_temp.peer_z(id, 'c')) AS c
    FROM levels
)
SELECT id,
       'g' || lpad(g::text, length(n::text), '0'),
       CASE WHEN kind = 'global' AND far_feature = 0 THEN far_factor * mu_max ELSE a END,
       CASE WHEN kind = 'global' AND far_feature = 1 THEN far_factor * 2 * mu_max ELSE b END,
       CASE WHEN kind = 'global' AND far_feature = 2 THEN far_factor * 0.5 * mu_max ELSE c END,
       kind
FROM drawn
ORDER BY id;

ANALYZE peer_rows;

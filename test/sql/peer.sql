-- Peer groups: a forest per group plus a global one, in one model.
SET extra_float_digits = 0;
SET client_min_messages = warning;
\set SHOW_CONTEXT never

CREATE TABLE shops (id int PRIMARY KEY, region text, a float8, b float8);
-- three regions with different levels, one tiny region, and rows without a region
INSERT INTO shops
SELECT i, (ARRAY['north', 'south', 'west'])[1 + i % 3],
       (1 + i % 3) * 100 + (i * 37 % 41), (1 + i % 3) * 10 + (i * 13 % 7)
FROM generate_series(1, 600) AS i;
INSERT INTO shops SELECT 1000 + i, 'tiny', 5 + i, 1 + i % 2 FROM generate_series(1, 10) AS i;
INSERT INTO shops SELECT 2000 + i, NULL, 150 + i, 15 FROM generate_series(1, 5) AS i;

SELECT isoforest.train('shops', 'shops', ARRAY['a', 'b'], key => 'id', group_by => 'region',
                       contamination => 0.1, seed => 1, n_trees => 50) IS NOT NULL AS trained;
SELECT i->'group_column' AS group_column, i->'n_groups' AS n_groups, i->'pooled' AS pooled,
       i->'threshold_scope' AS scope, i->'min_group_rows' AS min_group_rows,
       jsonb_path_query_array(i, '$.groups[*].group') AS groups,
       jsonb_path_query_array(i, '$.groups[*].rows_used') AS group_rows
FROM (SELECT isoforest.info(model) AS i FROM isoforest.models WHERE name = 'shops') s;

-- each group flags about its contamination of its own rows
SELECT grp, count(*) AS rows, count(*) FILTER (WHERE is_anomaly) AS flagged
FROM isoforest.detect('shops') GROUP BY grp ORDER BY grp NULLS LAST;

-- a row is scored by its group's forest: the same as the array form with that group
SELECT bool_and(isoforest.score(m.model, s) = isoforest.score(m.model, s.region, ARRAY[s.a, s.b])) AS row_equals_group_array,
       bool_and(isoforest.decision(m.model, s) = isoforest.decision(m.model, s.region, ARRAY[s.a, s.b])) AS decisions_equal
FROM shops s, isoforest.models m WHERE m.name = 'shops';
-- pooled, unseen and NULL groups go to the global forest
SELECT isoforest.score(m.model, 'tiny', ARRAY[6.0, 1.0]) = isoforest.score(m.model, NULL, ARRAY[6.0, 1.0]) AS pooled_is_global,
       isoforest.score(m.model, 'east', ARRAY[6.0, 1.0]) = isoforest.score(m.model, NULL, ARRAY[6.0, 1.0]) AS unseen_is_global,
       isoforest.score(m.model, 'north', ARRAY[6.0, 1.0]) <> isoforest.score(m.model, NULL, ARRAY[6.0, 1.0]) AS group_differs
FROM isoforest.models m WHERE m.name = 'shops';
SELECT isoforest.peer_group(m.model, s) AS peer_group, count(*)
FROM shops s, isoforest.models m WHERE m.name = 'shops' GROUP BY 1 ORDER BY 1 NULLS LAST;
-- a grouped model needs the group with an array
SELECT isoforest.score(model, ARRAY[1.0, 2.0]) FROM isoforest.models WHERE name = 'shops';

-- the SQL path (fit per group with GROUPING SETS, then group_models) gives train()'s model
SELECT (isoforest.group_models(array_agg(g), array_agg(m),
            '{"group_column": "region", "min_group_rows": 64, "threshold_scope": "group"}')::text::jsonb
        - 'trained_at')
     = ((SELECT model FROM isoforest.models WHERE name = 'shops')::text::jsonb - 'trained_at') AS same_as_train
FROM (SELECT CASE WHEN grouping(region) = 1 THEN NULL ELSE region END AS g,
             isoforest.fit(ARRAY[a, b], '{"seed": 1, "n_trees": 50, "contamination": 0.1, "feature_names": ["a", "b"]}') AS m
      FROM shops GROUP BY GROUPING SETS ((region), ())
      HAVING grouping(region) = 1 OR region IS NOT NULL) parts;

-- the text form round-trips; the view has a peer_group column; detect's grp matches it
SELECT model::text::isoforest.model::text = model::text AS text_round_trip FROM isoforest.models WHERE name = 'shops';
SELECT isoforest.materialize('shops', 'shops_flagged') IS NOT NULL AS materialized;
SELECT attname FROM pg_attribute WHERE attrelid = 'shops_flagged'::regclass AND attnum > 0 ORDER BY attnum;
SELECT bool_and(v.peer_group IS NOT DISTINCT FROM d.grp AND v.anomaly = d.is_anomaly::int) AS view_matches_detect
FROM shops_flagged v JOIN isoforest.detect('shops') d ON d.key = v.id::text;
SELECT isoforest.refresh('shops', retrain => true);
SELECT count(*) AS rows FROM shops_flagged;

-- one threshold for every group: about the contamination overall
SELECT isoforest.train('shops_global', 'shops', ARRAY['a', 'b'], key => 'id', group_by => 'region',
                       contamination => 0.1, seed => 1, n_trees => 50, threshold_scope => 'global') IS NOT NULL AS trained;
SELECT round(avg(is_anomaly::int), 2) AS flagged_overall,
       (SELECT count(DISTINCT g->>'threshold') FROM isoforest.models,
               jsonb_array_elements(isoforest.info(model)->'groups') g WHERE name = 'shops_global') AS distinct_group_thresholds
FROM isoforest.detect('shops_global');

-- bad input: clear errors, nothing stored
SELECT isoforest.train('bad', 'shops', ARRAY['a'], group_by => 'nope');
SELECT isoforest.train('bad', 'shops', ARRAY['a'], group_by => 'region', min_group_rows => 1);
SELECT isoforest.train('bad', 'shops', ARRAY['a'], group_by => 'region', threshold_scope => 'planet');
CREATE TABLE jshops AS SELECT id, a, '{}'::json AS j FROM shops;
SELECT isoforest.train('bad', 'jshops', ARRAY['a'], group_by => 'j');
SELECT isoforest.group_models(ARRAY['x'], ARRAY[(SELECT model FROM isoforest.models WHERE name = 'shops')], '{"group_column": "r"}');
SELECT isoforest.group_models(ARRAY[NULL::text], ARRAY[(SELECT isoforest.fit(ARRAY[a]) FROM shops)], '{}');
SELECT isoforest.group_models(ARRAY[NULL::text, 'x'],
                              ARRAY[(SELECT isoforest.fit(ARRAY[a]) FROM shops), (SELECT isoforest.fit(ARRAY[a, b]) FROM shops)],
                              '{"group_column": "r"}');
SELECT count(*) AS bad_models_stored FROM isoforest.models WHERE name = 'bad';

-- leave the registry as it was found
DROP MATERIALIZED VIEW shops_flagged;
DELETE FROM isoforest.models WHERE name IN ('shops', 'shops_global');

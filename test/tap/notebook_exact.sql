-- The notebook, exactly: on the 2023 EPA TRI facilities (data/tri, 977 rows),
-- train(compat => 'sklearn', key => 'facility_id', contamination => 0.08, seed => 42)
-- with the notebook's features flags the same facilities as the analysts' scikit-learn
-- 1.2.1 pipeline (IsolationForest(contamination=0.08, random_state=42), rows in file
-- order = ascending facility_id), whose flagged ids are the fixture
-- test/data/tri_2023_notebook_flags.csv (written by tools/notebook_flags.py).  The
-- default mode (no compat) is a different forest: it flags the contamination count
-- (79), not necessarily the same facilities.
\set ON_ERROR_STOP true
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(4);

CREATE TEMP TABLE tri_facility_years (
    facility_id text, year int, facility_name text, city text, county text,
    latitude float8, longitude float8, industry text, naics text,
    total_release_kg float8, air_release_kg float8, water_release_kg float8, carcinogen_release_kg float8,
    release_count int, n_chemicals int, n_carcinogens int, reports_pfas boolean, risk_score float8,
    PRIMARY KEY (facility_id, year));
\copy tri_facility_years FROM PROGRAM 'gzip -dc data/tri/tri_il_facility_years.csv.gz' WITH (FORMAT csv, HEADER true)
CREATE TEMP TABLE facilities_with_risk AS
SELECT facility_id, facility_name, industry, total_release_kg, release_count, n_chemicals, risk_score
FROM tri_facility_years WHERE year = 2023;
ALTER TABLE facilities_with_risk ADD PRIMARY KEY (facility_id);

CREATE TEMP TABLE notebook_flags (facility_id text PRIMARY KEY);
\copy notebook_flags FROM 'test/data/tri_2023_notebook_flags.csv' WITH (FORMAT csv, HEADER true)

SELECT isoforest.train('notebook_exact_sklearn', 'facilities_with_risk',
       ARRAY['log1p(total_release_kg)', 'log1p(release_count)', 'n_chemicals', 'label(industry)', 'risk_score'],
       key => 'facility_id', contamination => 0.08, seed => 42, compat => 'sklearn') IS NOT NULL AS trained \gset
SELECT isoforest.train('notebook_exact_default', 'facilities_with_risk',
       ARRAY['log1p(total_release_kg)', 'log1p(release_count)', 'n_chemicals', 'label(industry)', 'risk_score'],
       key => 'facility_id', contamination => 0.08, seed => 42) IS NOT NULL AS trained \gset

CREATE TEMP TABLE flagged AS
SELECT 'sklearn' AS mode, key AS facility_id FROM isoforest.detect('notebook_exact_sklearn') WHERE is_anomaly
UNION ALL
SELECT 'default', key FROM isoforest.detect('notebook_exact_default') WHERE is_anomaly;

SELECT is((SELECT count(*) FROM notebook_flags), 79::bigint,
          'the fixture lists the 79 facilities the notebook flags');
SELECT is((SELECT count(*) FROM flagged WHERE mode = 'sklearn'), (SELECT count(*) FROM notebook_flags),
          'compat => ''sklearn'' flags as many facilities as the notebook');
SELECT set_eq('SELECT facility_id FROM flagged WHERE mode = ''sklearn''',
              'SELECT facility_id FROM notebook_flags',
              'compat => ''sklearn'' flags exactly the notebook''s facilities');
SELECT is((SELECT count(*) FROM flagged WHERE mode = 'default'), 79::bigint,
          'the default mode flags the contamination count, 79 of 977');

SELECT * FROM finish();
ROLLBACK;

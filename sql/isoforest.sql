-- isoforest 0.1.0: Isolation Forest anomaly detection inside PostgreSQL.
-- Objects live in the schema isoforest, which CREATE EXTENSION creates.

\echo Use "CREATE EXTENSION isoforest" to load this file. \quit

-- The model type ------------------------------------------------------------

CREATE TYPE isoforest.model;

CREATE FUNCTION isoforest.model_in(cstring) RETURNS isoforest.model
    AS 'MODULE_PATHNAME', 'isoforest_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION isoforest.model_out(isoforest.model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'isoforest_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION isoforest.model_recv(internal) RETURNS isoforest.model
    AS 'MODULE_PATHNAME', 'isoforest_model_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION isoforest.model_send(isoforest.model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'isoforest_model_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE isoforest.model (
    INPUT = isoforest.model_in,
    OUTPUT = isoforest.model_out,
    RECEIVE = isoforest.model_recv,
    SEND = isoforest.model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE isoforest.model IS
    'A trained Isolation Forest: features, trees, psi, threshold, training parameters and facts; text form is JSON';
COMMENT ON FUNCTION isoforest.model_in(cstring) IS 'text input of isoforest.model (JSON, validated)';
COMMENT ON FUNCTION isoforest.model_out(isoforest.model) IS 'text output of isoforest.model (canonical JSON, exact floats)';
COMMENT ON FUNCTION isoforest.model_recv(internal) IS 'binary input of isoforest.model (validated)';
COMMENT ON FUNCTION isoforest.model_send(isoforest.model) IS 'binary output of isoforest.model (network byte order)';

CREATE FUNCTION isoforest.info(isoforest.model) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'isoforest_info'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION isoforest.info(isoforest.model) IS
    'everything about a model except its trees, plus n_nodes, max_depth and size_bytes';

-- The training aggregate's state --------------------------------------------

CREATE TYPE isoforest.fit_state;

CREATE FUNCTION isoforest.fit_state_in(cstring) RETURNS isoforest.fit_state
    AS 'MODULE_PATHNAME', 'isoforest_fit_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION isoforest.fit_state_out(isoforest.fit_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'isoforest_fit_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION isoforest.fit_state_recv(internal) RETURNS isoforest.fit_state
    AS 'MODULE_PATHNAME', 'isoforest_fit_state_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION isoforest.fit_state_send(isoforest.fit_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'isoforest_fit_state_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE isoforest.fit_state (
    INPUT = isoforest.fit_state_in,
    OUTPUT = isoforest.fit_state_out,
    RECEIVE = isoforest.fit_state_recv,
    SEND = isoforest.fit_state_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE isoforest.fit_state IS
    'partial state of isoforest.fit: per-tree bottom-k samples and a calibration sample (exact text I/O, for Citus)';
COMMENT ON FUNCTION isoforest.fit_state_in(cstring) IS 'text input of isoforest.fit_state (base64, validated)';
COMMENT ON FUNCTION isoforest.fit_state_out(isoforest.fit_state) IS 'text output of isoforest.fit_state (base64)';
COMMENT ON FUNCTION isoforest.fit_state_recv(internal) IS 'binary input of isoforest.fit_state (validated)';
COMMENT ON FUNCTION isoforest.fit_state_send(isoforest.fit_state) IS 'binary output of isoforest.fit_state';

-- Training ------------------------------------------------------------------

CREATE FUNCTION isoforest.fit_transfn(isoforest.fit_state, float8[]) RETURNS isoforest.fit_state
    AS 'MODULE_PATHNAME', 'isoforest_fit_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION isoforest.fit_transfn(isoforest.fit_state, float8[], jsonb) RETURNS isoforest.fit_state
    AS 'MODULE_PATHNAME', 'isoforest_fit_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION isoforest.fit_combinefn(isoforest.fit_state, isoforest.fit_state) RETURNS isoforest.fit_state
    AS 'MODULE_PATHNAME', 'isoforest_fit_combinefn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION isoforest.fit_finalfn(isoforest.fit_state) RETURNS isoforest.model
    AS 'MODULE_PATHNAME', 'isoforest_fit_finalfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION isoforest.fit_transfn(isoforest.fit_state, float8[]) IS 'transition function of isoforest.fit(x)';
COMMENT ON FUNCTION isoforest.fit_transfn(isoforest.fit_state, float8[], jsonb) IS 'transition function of isoforest.fit(x, options)';
COMMENT ON FUNCTION isoforest.fit_combinefn(isoforest.fit_state, isoforest.fit_state) IS 'combine function of isoforest.fit: merges partial samples';
COMMENT ON FUNCTION isoforest.fit_finalfn(isoforest.fit_state) IS 'final function of isoforest.fit: grows the trees and sets the threshold';

CREATE AGGREGATE isoforest.fit(float8[]) (
    SFUNC = isoforest.fit_transfn,
    STYPE = isoforest.fit_state,
    COMBINEFUNC = isoforest.fit_combinefn,
    FINALFUNC = isoforest.fit_finalfn,
    PARALLEL = SAFE
);
CREATE AGGREGATE isoforest.fit(float8[], jsonb) (
    SFUNC = isoforest.fit_transfn,
    STYPE = isoforest.fit_state,
    COMBINEFUNC = isoforest.fit_combinefn,
    FINALFUNC = isoforest.fit_finalfn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE isoforest.fit(float8[]) IS
    'train an Isolation Forest on feature arrays with the default options';
COMMENT ON AGGREGATE isoforest.fit(float8[], jsonb) IS
    'train an Isolation Forest on feature arrays; options: n_trees, sample_size, max_features, contamination, seed, feature_names, calibration_size';

-- Scoring -------------------------------------------------------------------

CREATE FUNCTION isoforest.score(isoforest.model, float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'isoforest_score'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION isoforest.decision(isoforest.model, float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'isoforest_decision'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION isoforest.is_anomaly(isoforest.model, float8[]) RETURNS boolean
    AS 'MODULE_PATHNAME', 'isoforest_is_anomaly'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION isoforest.score(isoforest.model, float8[]) IS
    'anomaly score s(x) in (0, 1] of a feature array; higher is more anomalous (scikit-learn score_samples = -s)';
COMMENT ON FUNCTION isoforest.decision(isoforest.model, float8[]) IS
    'threshold minus score, as scikit-learn decision_function; negative means anomaly';
COMMENT ON FUNCTION isoforest.is_anomaly(isoforest.model, float8[]) IS
    'true when the feature array scores above the model threshold (decision < 0)';

-- Features and rows ------------------------------------------------------------

CREATE FUNCTION isoforest.parse_feature(feature text, OUT transform text, OUT column_name text)
    AS 'MODULE_PATHNAME', 'isoforest_parse_feature'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION isoforest.parse_feature(text) IS
    'split feature text such as log1p(total_release_kg) or label("Industry") into its transform and column (parsed, never executed)';

CREATE FUNCTION isoforest.feature_vector(features jsonb, "row" record) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'isoforest_feature_vector'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION isoforest.feature_vector(jsonb, record) IS
    'a row''s features (columns by name, transforms and label codes applied) as train() feeds them to isoforest.fit';

CREATE FUNCTION isoforest.score(isoforest.model, "row" record) RETURNS float8
    AS 'MODULE_PATHNAME', 'isoforest_score_row'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION isoforest.decision(isoforest.model, "row" record) RETURNS float8
    AS 'MODULE_PATHNAME', 'isoforest_decision_row'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION isoforest.is_anomaly(isoforest.model, "row" record) RETURNS boolean
    AS 'MODULE_PATHNAME', 'isoforest_is_anomaly_row'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION isoforest.score(isoforest.model, record) IS
    'anomaly score s(x) in (0, 1] of a row of the model''s source: columns found by name, transforms applied by the model';
COMMENT ON FUNCTION isoforest.decision(isoforest.model, record) IS
    'threshold minus score of a row, as scikit-learn decision_function; negative means anomaly';
COMMENT ON FUNCTION isoforest.is_anomaly(isoforest.model, record) IS
    'true when the row scores above the model threshold (decision < 0)';

-- Peer groups ------------------------------------------------------------------

CREATE FUNCTION isoforest.score(isoforest.model, grp text, x float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'isoforest_score_group'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION isoforest.decision(isoforest.model, grp text, x float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'isoforest_decision_group'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION isoforest.is_anomaly(isoforest.model, grp text, x float8[]) RETURNS boolean
    AS 'MODULE_PATHNAME', 'isoforest_is_anomaly_group'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION isoforest.score(isoforest.model, text, float8[]) IS
    'anomaly score of a feature array by the forest of peer group grp (NULL or a group without a forest: the global forest)';
COMMENT ON FUNCTION isoforest.decision(isoforest.model, text, float8[]) IS
    'threshold minus score of a feature array by the forest of peer group grp';
COMMENT ON FUNCTION isoforest.is_anomaly(isoforest.model, text, float8[]) IS
    'true when the feature array scores above the threshold of peer group grp''s forest';

CREATE FUNCTION isoforest.peer_group(isoforest.model, "row" record) RETURNS text
    AS 'MODULE_PATHNAME', 'isoforest_peer_group'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION isoforest.peer_group(isoforest.model, record) IS
    'the peer group whose forest scores this row; NULL when the global forest does (ungrouped model, pooled or unseen group, NULL group)';

CREATE FUNCTION isoforest.group_models(groups text[], models isoforest.model[], options jsonb) RETURNS isoforest.model
    AS 'MODULE_PATHNAME', 'isoforest_group_models'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION isoforest.group_models(text[], isoforest.model[], jsonb) IS
    'one peer-grouped model from a global model (group NULL) and per-group models (NULL model: pooled); options: group_column, min_group_rows, threshold_scope, threshold';

-- The registry -----------------------------------------------------------------

CREATE TABLE isoforest.models (
    name         text PRIMARY KEY,
    model        isoforest.model NOT NULL,
    source       regclass NOT NULL,
    key          text,
    features     text[] NOT NULL,
    group_by     text,
    parameters   jsonb NOT NULL,
    owner        regrole NOT NULL DEFAULT current_user::regrole,
    trained_at   timestamptz NOT NULL,
    rows         bigint NOT NULL,
    rows_skipped bigint NOT NULL,
    view_name    regclass
);
COMMENT ON TABLE isoforest.models IS
    'named models: the model, how it was trained (source, key, features, parameters) and its anomaly view';
SELECT pg_catalog.pg_extension_config_dump('isoforest.models', '');

-- everyone may read the registry; only a model's owner (or a member of the
-- owning role) may replace, refresh or delete it
ALTER TABLE isoforest.models ENABLE ROW LEVEL SECURITY;
CREATE POLICY models_read ON isoforest.models FOR SELECT USING (true);
CREATE POLICY models_insert ON isoforest.models FOR INSERT
    WITH CHECK (pg_catalog.pg_has_role(owner, 'MEMBER'));
CREATE POLICY models_update ON isoforest.models FOR UPDATE
    USING (pg_catalog.pg_has_role(owner, 'MEMBER')) WITH CHECK (pg_catalog.pg_has_role(owner, 'MEMBER'));
CREATE POLICY models_delete ON isoforest.models FOR DELETE
    USING (pg_catalog.pg_has_role(owner, 'MEMBER'));
GRANT SELECT, INSERT, UPDATE, DELETE ON isoforest.models TO PUBLIC;
GRANT USAGE ON SCHEMA isoforest TO PUBLIC;

-- Training by name -------------------------------------------------------------

CREATE FUNCTION isoforest.train(
    name          text,
    source        regclass,
    features      text[],
    key           text    DEFAULT NULL,
    group_by      text    DEFAULT NULL,
    n_trees       int     DEFAULT 100,
    sample_size   int     DEFAULT 256,
    max_features  float8  DEFAULT 1.0,
    contamination float8  DEFAULT NULL,
    seed          bigint  DEFAULT NULL,
    replace       boolean DEFAULT false,
    min_group_rows  int   DEFAULT 64,
    threshold_scope text  DEFAULT 'group',
    compat        text    DEFAULT NULL
) RETURNS isoforest.model
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $train$
DECLARE
    started   timestamptz := clock_timestamp();
    existing  isoforest.models;
    relkind   "char";
    spec      jsonb := '[]';
    f         text;
    parsed    record;
    coltype   regtype;
    labels    jsonb;
    options   jsonb;
    m         isoforest.model;
    n_total   bigint;
    n_null    bigint;
    n_nonfinite bigint;
    n_used    bigint;
    threshold_t float8;
    pooled_list text;
    est_bytes bigint;
    est_forests bigint;
BEGIN
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION 'model name must not be empty' USING ERRCODE = '22023';
    END IF;
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF features IS NULL OR cardinality(features) = 0 THEN
        RAISE EXCEPTION 'features must name at least one column' USING ERRCODE = '22023',
            HINT = 'For example ARRAY[''log1p(total_release_kg)'', ''label(industry)''].';
    END IF;
    IF group_by IS NOT NULL THEN
        IF min_group_rows IS NULL OR min_group_rows < 2 THEN
            RAISE EXCEPTION 'min_group_rows must be at least 2, not %', min_group_rows USING ERRCODE = '22023';
        END IF;
        IF threshold_scope IS NULL OR threshold_scope NOT IN ('group', 'global') THEN
            RAISE EXCEPTION 'threshold_scope must be ''group'' or ''global'', not %', quote_nullable(threshold_scope)
                USING ERRCODE = '22023';
        END IF;
    END IF;
    IF compat IS NOT NULL THEN
        IF compat <> 'sklearn' THEN
            RAISE EXCEPTION 'compat must be ''sklearn'' or NULL, not %', quote_literal(compat) USING ERRCODE = '22023';
        END IF;
        IF key IS NULL THEN
            RAISE EXCEPTION 'compat => ''sklearn'' needs a key' USING ERRCODE = '22023',
                DETAIL = 'scikit-learn''s forest depends on the order of the rows; train() feeds them in ascending key order.';
        END IF;
        IF group_by IS NOT NULL THEN
            RAISE EXCEPTION 'compat => ''sklearn'' does not combine with group_by' USING ERRCODE = '0A000';
        END IF;
        IF seed IS NULL OR seed < 0 OR seed > 4294967295 THEN
            RAISE EXCEPTION 'compat => ''sklearn'' needs a seed between 0 and 4294967295 (random_state)'
                USING ERRCODE = '22023';
        END IF;
    END IF;
    IF n_trees IS NULL OR n_trees < 1 OR n_trees > 10000 THEN
        RAISE EXCEPTION 'n_trees must be between 1 and 10000, not %', n_trees USING ERRCODE = '22023';
    END IF;
    IF sample_size IS NULL OR sample_size < 2 THEN
        RAISE EXCEPTION 'sample_size must be at least 2, not %', sample_size USING ERRCODE = '22023';
    END IF;
    IF max_features IS NULL OR NOT (max_features > 0 AND max_features <= 1) THEN
        RAISE EXCEPTION 'max_features must be in (0, 1], not %', max_features USING ERRCODE = '22023';
    END IF;
    IF contamination IS NOT NULL AND NOT (contamination > 0 AND contamination <= 0.5) THEN
        RAISE EXCEPTION 'contamination must be in (0, 0.5] or NULL for auto, not %', contamination
            USING ERRCODE = '22023';
    END IF;

    SELECT * INTO existing FROM isoforest.models mo WHERE mo.name = train.name;
    IF FOUND AND NOT replace THEN
        RAISE EXCEPTION 'isoforest model "%" already exists', name USING ERRCODE = '42710',
            HINT = 'Pass replace => true to retrain it.';
    END IF;
    IF FOUND AND NOT pg_has_role(existing.owner, 'MEMBER') THEN
        RAISE EXCEPTION 'isoforest model "%" belongs to role %', name, existing.owner USING ERRCODE = '42501';
    END IF;

    SELECT c.relkind INTO relkind FROM pg_class c WHERE c.oid = source;
    IF relkind NOT IN ('r', 'v', 'm', 'f', 'p') THEN
        RAISE EXCEPTION '% is not a table, view or materialized view', source USING ERRCODE = '42809';
    END IF;

    -- features: parsed (never executed), checked against the source's columns
    FOREACH f IN ARRAY features LOOP
        parsed := isoforest.parse_feature(f);
        SELECT a.atttypid::regtype INTO coltype FROM pg_attribute a
        WHERE a.attrelid = source AND a.attname = parsed.column_name AND a.attnum > 0 AND NOT a.attisdropped;
        IF coltype IS NULL THEN
            RAISE EXCEPTION 'column "%" of feature "%" does not exist in %', parsed.column_name, f, source
                USING ERRCODE = '42703';
        END IF;
        IF parsed.transform = 'label' THEN
            -- LabelEncoder: distinct values as text, in byte order (as Python sorts)
            EXECUTE format('SELECT coalesce(jsonb_agg(v ORDER BY v COLLATE "C"), ''[]'') FROM '
                           '(SELECT DISTINCT format(''%%s'', %I) AS v FROM %s WHERE %I IS NOT NULL) s',
                           parsed.column_name, source, parsed.column_name) INTO labels;
            spec := spec || jsonb_build_array(jsonb_build_object(
                'name', parsed.column_name, 'transform', 'label', 'labels', labels));
        ELSE
            IF (SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
                FROM pg_type t WHERE t.oid = coltype)::regtype
               NOT IN ('smallint', 'integer', 'bigint', 'real', 'double precision', 'numeric') THEN
                RAISE EXCEPTION 'column "%" is of type %, which is not numeric', parsed.column_name, coltype
                    USING ERRCODE = '42804', HINT = format('Encode it with label(%s).', quote_ident(parsed.column_name));
            END IF;
            spec := spec || jsonb_build_array(jsonb_build_object(
                'name', parsed.column_name, 'transform', parsed.transform));
        END IF;
    END LOOP;

    IF group_by IS NOT NULL THEN
        SELECT a.atttypid::regtype INTO coltype FROM pg_attribute a
        WHERE a.attrelid = source AND a.attname = group_by AND a.attnum > 0 AND NOT a.attisdropped;
        IF coltype IS NULL THEN
            RAISE EXCEPTION 'group_by column "%" does not exist in %', group_by, source USING ERRCODE = '42703';
        END IF;
        IF coltype IN ('json'::regtype, 'xml'::regtype, 'point'::regtype) THEN
            RAISE EXCEPTION 'group_by column "%" is of type %, which has no equality to group by', group_by, coltype
                USING ERRCODE = '42804';
        END IF;
    END IF;

    IF key IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = source AND a.attname = key
                       AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'key column "%" does not exist in %', key, source USING ERRCODE = '42703';
        END IF;
        EXECUTE format('SELECT count(*) - count(DISTINCT %I) + count(*) - count(%I) FROM %s', key, key, source)
            INTO n_total;
        IF n_total > 0 THEN
            RAISE EXCEPTION 'key column "%" of % is not a unique, non-NULL key', key, source
                USING ERRCODE = '23505';
        END IF;
    END IF;

    options := jsonb_build_object('n_trees', n_trees, 'sample_size', sample_size,
                                  'max_features', max_features, 'contamination', contamination,
                                  'seed', seed, 'features', spec, 'compat', compat);
    IF compat IS NOT NULL THEN
        -- rows in ascending key order, text keys in byte order (C collation)
        EXECUTE format($q$
            SELECT isoforest.fit(v, $2 ORDER BY k),
                   count(*),
                   count(*) FILTER (WHERE v IS NULL OR array_position(v, NULL) IS NOT NULL),
                   count(*) FILTER (WHERE array_position(v, NULL) IS NULL
                                      AND ('NaN' = ANY (v) OR 'Infinity' = ANY (v) OR '-Infinity' = ANY (v)))
            FROM (SELECT isoforest.feature_vector($1, t.*) AS v, t.%I%s AS k FROM %s AS t) s$q$,
            key,
            CASE WHEN (SELECT typcollation <> 0 FROM pg_type WHERE oid =
                         (SELECT atttypid FROM pg_attribute WHERE attrelid = source AND attname = key))
                 THEN ' COLLATE "C"' ELSE '' END,
            source)
            USING spec, options INTO m, n_total, n_null, n_nonfinite;
    ELSIF group_by IS NULL THEN
        EXECUTE format($q$
            SELECT isoforest.fit(v, $2),
                   count(*),
                   count(*) FILTER (WHERE v IS NULL OR array_position(v, NULL) IS NOT NULL),
                   count(*) FILTER (WHERE array_position(v, NULL) IS NULL
                                      AND ('NaN' = ANY (v) OR 'Infinity' = ANY (v) OR '-Infinity' = ANY (v)))
            FROM (SELECT isoforest.feature_vector($1, t.*) AS v FROM %s AS t) s$q$, source)
            USING spec, options INTO m, n_total, n_null, n_nonfinite;
    ELSE
        -- one scan: a forest per group and the global forest (GROUPING SETS);
        -- group values as text through the type's output function, as scoring reads them
        IF to_regclass('pg_temp.isoforest_train_parts') IS NOT NULL THEN
            DROP TABLE pg_temp.isoforest_train_parts;
        END IF;
        EXECUTE format($q$
            CREATE TEMP TABLE isoforest_train_parts AS
            SELECT grouping(g) = 1 AS is_global, g, isoforest.fit(v, $2) AS m, count(*) AS n,
                   count(*) FILTER (WHERE v IS NULL OR array_position(v, NULL) IS NOT NULL) AS n_null,
                   count(*) FILTER (WHERE array_position(v, NULL) IS NULL
                                      AND ('NaN' = ANY (v) OR 'Infinity' = ANY (v) OR '-Infinity' = ANY (v))) AS n_nonfinite
            FROM (SELECT CASE WHEN t.%I IS NULL THEN NULL ELSE format('%%s', t.%I) END AS g,
                         isoforest.feature_vector($1, t.*) AS v FROM %s AS t) s
            GROUP BY GROUPING SETS ((g), ())$q$, group_by, group_by, source)
            USING spec, options;
        SELECT p.m, p.n, p.n_null, p.n_nonfinite INTO m, n_total, n_null, n_nonfinite
        FROM pg_temp.isoforest_train_parts p WHERE p.is_global;
        -- one model holds every forest, and a value is at most 1 GB
        SELECT sum((isoforest.info(p.m)->>'size_bytes')::bigint), count(*) INTO est_bytes, est_forests
        FROM pg_temp.isoforest_train_parts p
        WHERE p.is_global OR (p.g IS NOT NULL AND (isoforest.info(p.m)->>'rows_used')::bigint >= train.min_group_rows);
        IF est_bytes > 900000000 THEN
            RAISE EXCEPTION 'a forest for each of % peer groups would make a model of about % MB, more than one value holds',
                est_forests - 1, est_bytes / 1000000 USING ERRCODE = '54000',
                HINT = 'Raise min_group_rows, use fewer trees or a smaller sample_size, or group by a coarser column.';
        END IF;
        IF coalesce((isoforest.info(m)->>'rows_used')::bigint, 0) >= 2 THEN
            -- groups with too few usable rows are pooled: the global forest scores them
            SELECT isoforest.group_models(
                       array_agg(CASE WHEN p.is_global THEN NULL ELSE p.g END),
                       array_agg(p.m),
                       jsonb_build_object('group_column', group_by, 'min_group_rows', train.min_group_rows,
                                          'threshold_scope', 'group'))
            INTO m
            FROM pg_temp.isoforest_train_parts p WHERE p.is_global OR p.g IS NOT NULL;
            IF threshold_scope = 'global' THEN
                -- one threshold over every row's peer score, as scikit-learn sets offset_
                EXECUTE format($q$
                    SELECT CASE WHEN $2::float8 IS NULL THEN 0.5
                                ELSE -percentile_cont($2) WITHIN GROUP (ORDER BY -isoforest.score($1, t.*)) END
                    FROM %s AS t WHERE isoforest.score($1, t.*) IS NOT NULL$q$, source)
                    USING m, contamination INTO threshold_t;
                SELECT isoforest.group_models(
                           array_agg(CASE WHEN p.is_global THEN NULL ELSE p.g END),
                           array_agg(p.m),
                           jsonb_build_object('group_column', group_by, 'min_group_rows', train.min_group_rows,
                                              'threshold_scope', 'global', 'threshold', threshold_t))
                INTO m
                FROM pg_temp.isoforest_train_parts p WHERE p.is_global OR p.g IS NOT NULL;
            END IF;
            SELECT string_agg(format('%s (%s rows)', p.g, coalesce((isoforest.info(p.m)->>'rows_used')::bigint, 0)),
                              ', ' ORDER BY p.g) INTO pooled_list
            FROM pg_temp.isoforest_train_parts p
            WHERE NOT p.is_global AND p.g IS NOT NULL
              AND coalesce((isoforest.info(p.m)->>'rows_used')::bigint, 0) < train.min_group_rows;
        END IF;
        DROP TABLE pg_temp.isoforest_train_parts;
    END IF;

    n_used := coalesce((isoforest.info(m)->>'rows_used')::bigint, 0);
    IF n_used < 2 THEN
        RAISE EXCEPTION 'isoforest model "%" needs at least 2 usable rows; % has % (% skipped)',
            name, source, n_used, n_total - n_used USING ERRCODE = '22023',
            DETAIL = format('%s rows have a NULL feature, %s a value that is not finite after its transform.',
                            n_null, n_nonfinite);
    END IF;

    INSERT INTO isoforest.models AS mo (name, model, source, key, features, group_by, parameters,
                                        owner, trained_at, rows, rows_skipped, view_name)
    VALUES (name, m, source, key, features, group_by,
            jsonb_build_object('n_trees', n_trees, 'sample_size', sample_size, 'max_features', max_features,
                               'contamination', contamination, 'seed', seed, 'min_group_rows', min_group_rows,
                               'threshold_scope', threshold_scope, 'compat', compat),
            coalesce(existing.owner, current_user::regrole), clock_timestamp(), n_used, n_total - n_used,
            existing.view_name)
    ON CONFLICT ON CONSTRAINT models_pkey DO UPDATE
    SET model = excluded.model, source = excluded.source, key = excluded.key, features = excluded.features,
        group_by = excluded.group_by, parameters = excluded.parameters, trained_at = excluded.trained_at,
        rows = excluded.rows, rows_skipped = excluded.rows_skipped;

    IF group_by IS NULL THEN
        RAISE NOTICE 'isoforest model "%" trained on %: % rows used, % skipped (% with a NULL feature, % not finite after transforms); % trees of % rows; threshold %; % ms',
            name, source, n_used, n_total - n_used, n_null, n_nonfinite, n_trees,
            isoforest.info(m)->>'psi', round((isoforest.info(m)->>'threshold')::numeric, 4),
            round(extract(epoch FROM clock_timestamp() - started)::numeric * 1000);
    ELSE
        RAISE NOTICE 'isoforest model "%" trained on %: % rows used, % skipped (% with a NULL feature, % not finite after transforms); a global forest and % peer-group forests by "%" (% trees each; thresholds per %); % ms; pooled into the global forest, fewer than % usable rows: %',
            name, source, n_used, n_total - n_used, n_null, n_nonfinite,
            isoforest.info(m)->>'n_groups', group_by, n_trees, threshold_scope,
            round(extract(epoch FROM clock_timestamp() - started)::numeric * 1000),
            min_group_rows, coalesce(pooled_list, 'none');
    END IF;
    RETURN m;
END
$train$;
COMMENT ON FUNCTION isoforest.train(text, regclass, text[], text, text, int, int, float8, float8, bigint, boolean, int, text, text) IS
    'train a model on a relation''s rows by feature text (col, log1p(col), ln(col), sqrt(col), label(col)) and store it in isoforest.models';

CREATE FUNCTION isoforest.register(name text, model isoforest.model, source regclass,
                                   key text DEFAULT NULL, replace boolean DEFAULT false)
RETURNS isoforest.model
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $register$
DECLARE
    existing isoforest.models;
    info jsonb := isoforest.info(model);
BEGIN
    IF name IS NULL OR name = '' OR model IS NULL OR source IS NULL THEN
        RAISE EXCEPTION 'name, model and source must be given' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO existing FROM isoforest.models mo WHERE mo.name = register.name;
    IF FOUND AND NOT replace THEN
        RAISE EXCEPTION 'isoforest model "%" already exists', name USING ERRCODE = '42710',
            HINT = 'Pass replace => true to replace it.';
    END IF;
    IF FOUND AND NOT pg_has_role(existing.owner, 'MEMBER') THEN
        RAISE EXCEPTION 'isoforest model "%" belongs to role %', name, existing.owner USING ERRCODE = '42501';
    END IF;
    IF key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = source
                                       AND a.attname = key AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'key column "%" does not exist in %', key, source USING ERRCODE = '42703';
    END IF;
    INSERT INTO isoforest.models AS mo (name, model, source, key, features, group_by, parameters,
                                        owner, trained_at, rows, rows_skipped, view_name)
    VALUES (name, model, source, key,
            ARRAY(SELECT CASE WHEN f->>'transform' = 'none' THEN quote_ident(f->>'name')
                              ELSE format('%s(%s)', f->>'transform', quote_ident(f->>'name')) END
                  FROM jsonb_array_elements(info->'features') f),
            info->>'group_column',
            jsonb_build_object('imported', true, 'n_trees', info->'n_trees', 'sample_size', info->'sample_size',
                               'contamination', info->'contamination', 'seed', info->'seed'),
            coalesce(existing.owner, current_user::regrole), clock_timestamp(),
            (info->>'rows_used')::bigint, (info->>'rows_skipped')::bigint, existing.view_name)
    ON CONFLICT ON CONSTRAINT models_pkey DO UPDATE
    SET model = excluded.model, source = excluded.source, key = excluded.key, features = excluded.features,
        group_by = excluded.group_by, parameters = excluded.parameters, trained_at = excluded.trained_at,
        rows = excluded.rows, rows_skipped = excluded.rows_skipped;
    RETURN model;
END
$register$;
COMMENT ON FUNCTION isoforest.register(text, isoforest.model, regclass, text, boolean) IS
    'register a model made elsewhere (for example imported from scikit-learn) under a name, so detect, materialize and refresh work with it';

-- Scoring a whole relation -----------------------------------------------------

CREATE FUNCTION isoforest.detect(name text, source regclass DEFAULT NULL)
    RETURNS TABLE(key text, grp text, anomaly_score float8, decision float8, is_anomaly boolean)
    AS 'MODULE_PATHNAME', 'isoforest_detect'
    LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1000;
COMMENT ON FUNCTION isoforest.detect(text, regclass) IS
    'score every row of the model''s source (or of another relation with the same columns) with a registered model';

-- The anomaly view -----------------------------------------------------------

CREATE FUNCTION isoforest.materialize(name text, view_name text) RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $materialize$
DECLARE
    reg isoforest.models;
    parts text[];
    qualified text;
    v regclass;
BEGIN
    SELECT * INTO reg FROM isoforest.models mo WHERE mo.name = materialize.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'isoforest model "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    IF NOT pg_has_role(reg.owner, 'MEMBER') THEN
        RAISE EXCEPTION 'isoforest model "%" belongs to role %', name, reg.owner USING ERRCODE = '42501';
    END IF;
    IF reg.key IS NULL THEN
        RAISE EXCEPTION 'isoforest model "%" has no key', name USING ERRCODE = '22023',
            HINT = 'Retrain it with key => ''<unique column>'': the view needs a unique index to refresh concurrently.';
    END IF;
    -- an unqualified name goes to the source's schema (the search_path here is pinned)
    parts := parse_ident(view_name);
    IF cardinality(parts) = 1 THEN
        parts := ARRAY[(SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE c.oid = reg.source)] || parts;
    END IF;
    qualified := array_to_string(ARRAY(SELECT quote_ident(p) FROM unnest(parts) p), '.');
    EXECUTE format($v$
        CREATE MATERIALIZED VIEW %s AS
        SELECT t.*,%s
               isoforest.score(m.model, t.*) AS anomaly_score,
               isoforest.is_anomaly(m.model, t.*)::int AS anomaly
        FROM %s AS t,
             (SELECT mo.model FROM isoforest.models mo WHERE mo.name = %L) AS m$v$,
        qualified,
        CASE WHEN reg.group_by IS NOT NULL THEN ' isoforest.peer_group(m.model, t.*) AS peer_group,' ELSE '' END,
        -- a grouped model scores rows group by group, so each group's forest stays in cache
        CASE WHEN reg.group_by IS NOT NULL
             THEN format('(SELECT * FROM %s ORDER BY %I)', reg.source, reg.group_by)
             ELSE reg.source::text END,
        name);
    v := qualified::regclass;
    EXECUTE format('CREATE UNIQUE INDEX ON %s (%I)', v, reg.key);
    EXECUTE format('COMMENT ON MATERIALIZED VIEW %s IS %L', v,
                   format('anomaly flags of isoforest model %s over %s (anomaly: 1 = anomaly, 0 = normal); refresh with isoforest.refresh(%L)',
                          name, reg.source, name));
    UPDATE isoforest.models mo SET view_name = v WHERE mo.name = materialize.name;
    EXECUTE format('SELECT format(''%%s rows, %%s anomalies'', count(*), sum(anomaly)) FROM %s', v) INTO qualified;
    RAISE NOTICE 'materialized view % over %: %', v, reg.source, qualified;
    RETURN v;
END
$materialize$;
COMMENT ON FUNCTION isoforest.materialize(text, text) IS
    'create a materialized view with every column of the model''s source plus anomaly_score and anomaly (1/0), uniquely indexed on the key';

CREATE FUNCTION isoforest.refresh(name text, retrain boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $refresh$
DECLARE
    reg isoforest.models;
    p jsonb;
BEGIN
    SELECT * INTO reg FROM isoforest.models mo WHERE mo.name = refresh.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'isoforest model "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    IF NOT pg_has_role(reg.owner, 'MEMBER') THEN
        RAISE EXCEPTION 'isoforest model "%" belongs to role %; only its owner refreshes it', name, reg.owner
            USING ERRCODE = '42501';
    END IF;
    -- two refreshes of one model run one after the other
    PERFORM pg_advisory_xact_lock(hashtext('isoforest.refresh'), hashtext(name));
    IF retrain AND coalesce((reg.parameters->>'imported')::boolean, false) THEN
        RAISE EXCEPTION 'isoforest model "%" was registered, not trained here: it cannot be retrained', name
            USING ERRCODE = '0A000', HINT = 'Refresh it without retrain, or register a new model.';
    END IF;
    IF retrain THEN
        p := reg.parameters;
        PERFORM isoforest.train(name, reg.source, reg.features, reg.key, reg.group_by,
                                (p->>'n_trees')::int, (p->>'sample_size')::int, (p->>'max_features')::float8,
                                (p->>'contamination')::float8, (p->>'seed')::bigint, true,
                                (p->>'min_group_rows')::int, p->>'threshold_scope', p->>'compat');
    END IF;
    IF reg.view_name IS NOT NULL THEN
        -- readers keep seeing the previous contents until this commits
        EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %s', reg.view_name);
    END IF;
END
$refresh$;
COMMENT ON FUNCTION isoforest.refresh(text, boolean) IS
    'retrain a model with its stored arguments (when asked), then refresh its anomaly view concurrently; only its owner may';

-- The original analysis' comparison and chart ------------------------------------

CREATE FUNCTION isoforest.overlap(name text, "column" text, top_fraction float8 DEFAULT 0.05)
    RETURNS TABLE(anomaly_and_top bigint, anomaly_only bigint, top_only bigint, neither bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $overlap$
DECLARE
    reg isoforest.models;
BEGIN
    SELECT * INTO reg FROM isoforest.models mo WHERE mo.name = overlap.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'isoforest model "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    IF top_fraction IS NULL OR NOT (top_fraction > 0 AND top_fraction < 1) THEN
        RAISE EXCEPTION 'top_fraction must be in (0, 1), not %', top_fraction USING ERRCODE = '22023';
    END IF;
    -- the top fraction: values at or above the (1 - top_fraction) quantile (linear, as pandas)
    RETURN QUERY EXECUTE format($q$
        WITH scored AS (
            SELECT isoforest.is_anomaly(m.model, t.*) AS a, t.%1$I::float8 AS v
            FROM %2$s AS t, (SELECT mo.model FROM isoforest.models mo WHERE mo.name = $1) AS m),
        cut AS (SELECT percentile_cont(1 - $2) WITHIN GROUP (ORDER BY v) AS c FROM scored)
        SELECT count(*) FILTER (WHERE a AND v >= c), count(*) FILTER (WHERE a AND NOT v >= c),
               count(*) FILTER (WHERE NOT a AND v >= c), count(*) FILTER (WHERE NOT a AND NOT v >= c)
        FROM scored, cut WHERE a IS NOT NULL AND v IS NOT NULL$q$, "column", reg.source)
        USING name, top_fraction;
END
$overlap$;
COMMENT ON FUNCTION isoforest.overlap(text, text, float8) IS
    'how a model''s anomalies relate to the top fraction of another column: counts of anomaly-and-top, anomaly-only, top-only, neither';

CREATE FUNCTION isoforest.histogram(name text, "column" text, bins int DEFAULT 25, top_fraction float8 DEFAULT 0.05)
    RETURNS TABLE(bin int, lower float8, upper float8, normal bigint, top bigint, anomalies bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $histogram$
DECLARE
    reg isoforest.models;
BEGIN
    SELECT * INTO reg FROM isoforest.models mo WHERE mo.name = histogram.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'isoforest model "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    IF bins IS NULL OR bins < 1 OR bins > 10000 THEN
        RAISE EXCEPTION 'bins must be between 1 and 10000, not %', bins USING ERRCODE = '22023';
    END IF;
    IF top_fraction IS NULL OR NOT (top_fraction > 0 AND top_fraction < 1) THEN
        RAISE EXCEPTION 'top_fraction must be in (0, 1), not %', top_fraction USING ERRCODE = '22023';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH scored AS (
            SELECT isoforest.is_anomaly(m.model, t.*) AS a, t.%1$I::float8 AS v
            FROM %2$s AS t, (SELECT mo.model FROM isoforest.models mo WHERE mo.name = $1) AS m),
        valid AS (SELECT * FROM scored WHERE a IS NOT NULL AND v IS NOT NULL),
        bounds AS (SELECT min(v) AS lo, max(v) AS hi,
                          percentile_cont(1 - $3) WITHIN GROUP (ORDER BY v) AS c FROM valid),
        binned AS (
            SELECT least(width_bucket(v, lo, hi + (hi - lo) * 1e-12 + 1e-300, $2), $2) AS b, a, v >= c AS is_top
            FROM valid, bounds)
        SELECT g.b, lo + (hi - lo) * (g.b - 1) / $2, lo + (hi - lo) * g.b / $2,
               count(binned.b) FILTER (WHERE NOT binned.a), count(binned.b) FILTER (WHERE binned.is_top),
               count(binned.b) FILTER (WHERE binned.a)
        FROM bounds, generate_series(1, $2) AS g(b) LEFT JOIN binned ON binned.b = g.b
        GROUP BY g.b, lo, hi ORDER BY g.b$q$, "column", reg.source)
        USING name, bins, top_fraction;
END
$histogram$;
COMMENT ON FUNCTION isoforest.histogram(text, text, int, float8) IS
    'equal-width bins of a column with counts of normal rows, top-fraction rows and anomalies, ready for a chart';

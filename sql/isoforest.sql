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

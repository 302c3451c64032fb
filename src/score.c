/*
 * score.c
 *		The scoring functions score, decision and is_anomaly, for feature
 *		arrays (with or without a peer group) and for rows; and peer_group.
 *
 * All share one path: the model comes from the call site's cache, the
 * array (or the row, through the cached map of its type) gives the
 * transformed values, the row's forest is found by its peer group (a hash
 * lookup: the global forest when the group has none) and walked once.
 */
#include "isoforest.h"

#include "utils/builtins.h"

#include "features.h"
#include "model_cache.h"
#include "row_features.h"

PG_FUNCTION_INFO_V1(isoforest_score);
PG_FUNCTION_INFO_V1(isoforest_decision);
PG_FUNCTION_INFO_V1(isoforest_is_anomaly);
PG_FUNCTION_INFO_V1(isoforest_score_group);
PG_FUNCTION_INFO_V1(isoforest_decision_group);
PG_FUNCTION_INFO_V1(isoforest_is_anomaly_group);
PG_FUNCTION_INFO_V1(isoforest_score_row);
PG_FUNCTION_INFO_V1(isoforest_decision_row);
PG_FUNCTION_INFO_V1(isoforest_is_anomaly_row);
PG_FUNCTION_INFO_V1(isoforest_peer_group);

/* What a scoring call found: the score and the threshold of the forest that gave it. */
typedef struct Scored
{
	double		score;
	double		threshold;
	int32		forest;
} Scored;

/*
 * Score the array in argument xarg against the model in argument 0; group
 * names the row's peer group (NULL: none given).  False when the row is
 * unusable.
 */
static bool
score_array(FunctionCallInfo fcinfo, int xarg, const char *group, bool group_given, Scored *out)
{
	const Forest *forest = ModelCacheGet(fcinfo, 0);
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(xarg);
	double		stack_scratch[64];
	double	   *scratch = forest->n_features <= 64 ? stack_scratch
		: palloc(sizeof(double) * forest->n_features);
	const double *x;
	bool		isnull;

	if (forest->group_column != NULL && !group_given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("this model has a forest per \"%s\": pass the row's group", forest->group_column),
				 errhint("Use isoforest.score(model, group, x), or score rows: isoforest.score(model, t).")));
	x = FeatureArrayForScoring(forest, array, scratch, &isnull);
	if (isnull)
		return false;
	out->forest = ForestFindGroup(forest, group);
	out->score = ForestScore(forest, out->forest, x);
	out->threshold = forest->threshold[out->forest];
	return true;
}

/* Score the row in argument 1 against the model in argument 0; false when unusable. */
static bool
score_row(FunctionCallInfo fcinfo, Scored *out)
{
	Forest	   *forest = (Forest *) ModelCacheGet(fcinfo, 0);
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(1);
	double		stack_x[64];
	double	   *x = forest->n_features <= 64 ? stack_x : palloc(sizeof(double) * forest->n_features);

	/* the map lives with the cached forest, so it is rebuilt when either changes */
	forest->row_map = RowFeatureMapFor(forest->row_map, row, forest->features, forest->n_features,
									   forest->group_column, forest->cxt);
	if (RowFeatureRead(forest->row_map, row, x, NULL) != FEATURES_OK || !ForestPrepareInputs(forest, x))
		return false;
	out->forest = ForestFindGroup(forest, RowGroupValue(forest->row_map, row));
	out->score = ForestScore(forest, out->forest, x);
	out->threshold = forest->threshold[out->forest];
	return true;
}

/* The group argument of the grouped array forms (NULL: none, scored by the global forest). */
static const char *
group_arg(FunctionCallInfo fcinfo)
{
	return PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
}

#define RETURN_SCORE(ok, s) \
	do { if (!(ok)) PG_RETURN_NULL(); PG_RETURN_FLOAT8((s).score); } while (0)
#define RETURN_DECISION(ok, s) \
	do { if (!(ok)) PG_RETURN_NULL(); PG_RETURN_FLOAT8((s).threshold - (s).score); } while (0)
#define RETURN_ANOMALY(ok, s) \
	do { if (!(ok)) PG_RETURN_NULL(); PG_RETURN_BOOL((s).threshold - (s).score < 0.0); } while (0)

/* isoforest.score(m, x): the anomaly score s(x) in (0, 1]. */
Datum
isoforest_score(PG_FUNCTION_ARGS)
{
	Scored		s;
	bool		ok = score_array(fcinfo, 1, NULL, false, &s);

	RETURN_SCORE(ok, s);
}

/* isoforest.decision(m, x): t - s(x), negative for anomalies. */
Datum
isoforest_decision(PG_FUNCTION_ARGS)
{
	Scored		s;
	bool		ok = score_array(fcinfo, 1, NULL, false, &s);

	RETURN_DECISION(ok, s);
}

/* isoforest.is_anomaly(m, x): decision < 0. */
Datum
isoforest_is_anomaly(PG_FUNCTION_ARGS)
{
	Scored		s;
	bool		ok = score_array(fcinfo, 1, NULL, false, &s);

	RETURN_ANOMALY(ok, s);
}

/* isoforest.score(m, grp, x): by the forest of peer group grp. */
Datum
isoforest_score_group(PG_FUNCTION_ARGS)
{
	Scored		s;
	bool		ok;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	ok = score_array(fcinfo, 2, group_arg(fcinfo), true, &s);
	RETURN_SCORE(ok, s);
}

/* isoforest.decision(m, grp, x) */
Datum
isoforest_decision_group(PG_FUNCTION_ARGS)
{
	Scored		s;
	bool		ok;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	ok = score_array(fcinfo, 2, group_arg(fcinfo), true, &s);
	RETURN_DECISION(ok, s);
}

/* isoforest.is_anomaly(m, grp, x) */
Datum
isoforest_is_anomaly_group(PG_FUNCTION_ARGS)
{
	Scored		s;
	bool		ok;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	ok = score_array(fcinfo, 2, group_arg(fcinfo), true, &s);
	RETURN_ANOMALY(ok, s);
}

/* isoforest.score(m, row): the anomaly score of a row of the model's source. */
Datum
isoforest_score_row(PG_FUNCTION_ARGS)
{
	Scored		s;
	bool		ok = score_row(fcinfo, &s);

	RETURN_SCORE(ok, s);
}

/* isoforest.decision(m, row): t - s(row). */
Datum
isoforest_decision_row(PG_FUNCTION_ARGS)
{
	Scored		s;
	bool		ok = score_row(fcinfo, &s);

	RETURN_DECISION(ok, s);
}

/* isoforest.is_anomaly(m, row): decision < 0. */
Datum
isoforest_is_anomaly_row(PG_FUNCTION_ARGS)
{
	Scored		s;
	bool		ok = score_row(fcinfo, &s);

	RETURN_ANOMALY(ok, s);
}

/* isoforest.peer_group(m, row): the group whose forest scores the row; NULL for the global one. */
Datum
isoforest_peer_group(PG_FUNCTION_ARGS)
{
	Forest	   *forest = (Forest *) ModelCacheGet(fcinfo, 0);
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(1);
	int32		f;

	forest->row_map = RowFeatureMapFor(forest->row_map, row, forest->features, forest->n_features,
									   forest->group_column, forest->cxt);
	f = ForestFindGroup(forest, RowGroupValue(forest->row_map, row));
	if (f == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(forest->group_names[f]));
}

/*
 * score.c
 *		The scoring functions score, decision and is_anomaly, for feature
 *		arrays and for rows.
 *
 * All share one path: the model comes from the call site's cache, the
 * array (or the row, through the cached map of its type) gives the
 * transformed values, the forest is walked once.
 */
#include "isoforest.h"

#include "features.h"
#include "model_cache.h"
#include "row_features.h"

PG_FUNCTION_INFO_V1(isoforest_score);
PG_FUNCTION_INFO_V1(isoforest_decision);
PG_FUNCTION_INFO_V1(isoforest_is_anomaly);
PG_FUNCTION_INFO_V1(isoforest_score_row);
PG_FUNCTION_INFO_V1(isoforest_decision_row);
PG_FUNCTION_INFO_V1(isoforest_is_anomaly_row);

/* Score argument 1 against the model in argument 0; false when the row is unusable. */
static bool
score_array_arg(FunctionCallInfo fcinfo, double *score, double *threshold)
{
	const Forest *forest = ModelCacheGet(fcinfo, 0);
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(1);
	double		stack_scratch[64];
	double	   *scratch = forest->n_features <= 64 ? stack_scratch
		: palloc(sizeof(double) * forest->n_features);
	const double *x;
	bool		isnull;

	x = FeatureArrayForScoring(forest, array, scratch, &isnull);
	if (isnull)
		return false;
	*score = ForestScore(forest, x);
	*threshold = forest->threshold;
	return true;
}

/* isoforest.score(m, x): the anomaly score s(x) in (0, 1]. */
Datum
isoforest_score(PG_FUNCTION_ARGS)
{
	double		score,
				threshold;

	if (!score_array_arg(fcinfo, &score, &threshold))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(score);
}

/* isoforest.decision(m, x): t - s(x), negative for anomalies. */
Datum
isoforest_decision(PG_FUNCTION_ARGS)
{
	double		score,
				threshold;

	if (!score_array_arg(fcinfo, &score, &threshold))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(threshold - score);
}

/* isoforest.is_anomaly(m, x): decision < 0. */
Datum
isoforest_is_anomaly(PG_FUNCTION_ARGS)
{
	double		score,
				threshold;

	if (!score_array_arg(fcinfo, &score, &threshold))
		PG_RETURN_NULL();
	PG_RETURN_BOOL(threshold - score < 0.0);
}

/* Score the row in argument 1 against the model in argument 0; false when unusable. */
static bool
score_row_arg(FunctionCallInfo fcinfo, double *score, double *threshold)
{
	Forest	   *forest = (Forest *) ModelCacheGet(fcinfo, 0);
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(1);
	double		stack_x[64];
	double	   *x = forest->n_features <= 64 ? stack_x : palloc(sizeof(double) * forest->n_features);

	/* the map lives with the cached forest, so it is rebuilt when either changes */
	forest->row_map = RowFeatureMapFor(forest->row_map, row, forest->features, forest->n_features,
									   forest->cxt);
	if (RowFeatureRead(forest->row_map, row, x, NULL) != FEATURES_OK)
		return false;
	*score = ForestScore(forest, x);
	*threshold = forest->threshold;
	return true;
}

/* isoforest.score(m, row): the anomaly score of a row of the model's source. */
Datum
isoforest_score_row(PG_FUNCTION_ARGS)
{
	double		score,
				threshold;

	if (!score_row_arg(fcinfo, &score, &threshold))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(score);
}

/* isoforest.decision(m, row): t - s(row). */
Datum
isoforest_decision_row(PG_FUNCTION_ARGS)
{
	double		score,
				threshold;

	if (!score_row_arg(fcinfo, &score, &threshold))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(threshold - score);
}

/* isoforest.is_anomaly(m, row): decision < 0. */
Datum
isoforest_is_anomaly_row(PG_FUNCTION_ARGS)
{
	double		score,
				threshold;

	if (!score_row_arg(fcinfo, &score, &threshold))
		PG_RETURN_NULL();
	PG_RETURN_BOOL(threshold - score < 0.0);
}

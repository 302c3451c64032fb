/*
 * score.c
 *		The scoring functions for feature arrays: score, decision, is_anomaly.
 *
 * All three share one path: the model comes from the call site's cache,
 * the array is checked and transformed, the forest is walked once.
 */
#include "isoforest.h"

#include "features.h"
#include "model_cache.h"

PG_FUNCTION_INFO_V1(isoforest_score);
PG_FUNCTION_INFO_V1(isoforest_decision);
PG_FUNCTION_INFO_V1(isoforest_is_anomaly);

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

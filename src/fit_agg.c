/*
 * fit_agg.c
 *		The aggregate isoforest.fit(x float8[] [, options jsonb]): transition,
 *		combine and final functions.
 *
 * The state is the type isoforest.fit_state, not internal, because Citus
 * computes partial aggregates on its workers only for states with text
 * I/O; with a real type, parallel workers also hand their states to the
 * leader as ordinary datums, so no serial/deserial functions are needed
 * (PostgreSQL allows them only for internal states).  The transition
 * function updates the state in place; when a buffer grows it returns a
 * new, larger state and the executor keeps that one instead.
 */
#include "isoforest.h"

#include "miscadmin.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "feature_spec.h"
#include "features.h"
#include "fit_state.h"
#include "forest.h"
#include "sklearn_forest.h"
#include "threshold.h"
#include "tree_build.h"

PG_FUNCTION_INFO_V1(isoforest_fit_transfn);
PG_FUNCTION_INFO_V1(isoforest_fit_combinefn);
PG_FUNCTION_INFO_V1(isoforest_fit_finalfn);

#define DatumGetFitStateP(d) ((FitState *) PG_DETOAST_DATUM(d))

/* Add one row: skip and count it when unusable, fix the vector length on the first. */
Datum
isoforest_fit_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	FitState   *s;
	ArrayType  *array;
	double		stack_x[64];
	double	   *x;
	int			n;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "isoforest_fit_transfn called in non-aggregate context");

	if (PG_ARGISNULL(0))
	{
		FitOptions	options;

		FitOptionsParse(PG_NARGS() > 2 && !PG_ARGISNULL(2) ? PG_GETARG_JSONB_P(2) : NULL, &options);
		s = FitStateCreate(&options);
	}
	else
		s = (FitState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(1))
	{
		s->rows_skipped++;
		PG_RETURN_POINTER(s);
	}
	array = PG_GETARG_ARRAYTYPE_P(1);
	n = ARR_NDIM(array) == 0 ? 0 : FeatureArrayLength(array);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature vector is empty")));
	if (s->n_features == 0)
	{
		if (s->n_names > 0 && s->n_names != n)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the options declare %d features but the feature vectors have %d elements",
							s->n_names, n)));
		if (n > ISOFOREST_MAX_FEATURES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("feature vectors have %d elements, more than the limit of %d",
							n, ISOFOREST_MAX_FEATURES)));
		s = FitStateSetFeatures(s, n);
	}
	else if (n != s->n_features)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature vectors have different lengths: %d and %d", s->n_features, n),
				 errhint("Every row of one fit must have the same number of features.")));

	x = n <= (int) lengthof(stack_x) ? stack_x : palloc(sizeof(double) * n);
	if (FeatureArrayRead(array, x, n) != FEATURES_OK)
		s->rows_skipped++;
	else
		s = FitStateAddRow(s, x);
	PG_RETURN_POINTER(s);
}

/* Merge two partial states (from parallel workers or Citus shards). */
Datum
isoforest_fit_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "isoforest_fit_combinefn called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(DatumGetFitStateP(PG_GETARG_DATUM(1)));
	PG_RETURN_POINTER(FitStateMerge(DatumGetFitStateP(PG_GETARG_DATUM(0)),
									DatumGetFitStateP(PG_GETARG_DATUM(1))));
}

/* The features: those the options declared, or f1..fN. */
static IsoForestFeatureSpec *
feature_specs(const FitState *s)
{
	static const JsonReader reader = {ERRCODE_DATA_CORRUPTED, "invalid isoforest.fit_state value"};
	IsoForestFeatureSpec *features;
	int32		n;

	if (s->names_len > 0)
	{
		features = FeatureSpecReadText(&reader, FitNames(s), &n);
		if (n != s->n_features)
			elog(ERROR, "isoforest.fit_state declares %d features for vectors of %d", n, s->n_features);
		return features;
	}
	features = palloc0(sizeof(IsoForestFeatureSpec) * s->n_features);
	for (int f = 0; f < s->n_features; f++)
		features[f].name = psprintf("f%d", f + 1);
	return features;
}

/*
 * compat 'sklearn': scikit-learn 1.2.1's forest over the rows in the order
 * they came, and its offset_ over every training row's score.
 */
static IsoForestModel *
finish_sklearn(const FitState *s)
{
	Size		slot = FitSlotSize(s->n_features);
	int64		n = s->calib_fill;	/* one slot per row (the validator checked it) */
	double	   *x = palloc_extended(sizeof(double) * (Size) n * s->n_features, MCXT_ALLOC_HUGE);
	SklearnOptions o;
	IsoForestSpec spec;
	IsoForestModel *m;
	int32		psi;

	for (int64 i = 0; i < n; i++)
		memcpy(x + i * s->n_features, SLOT_X(FitCalibSlots(s) + slot * i), sizeof(double) * s->n_features);
	o.n_trees = s->n_trees;
	o.random_state = s->seed;
	o.max_samples = s->max_samples;
	o.max_samples_fraction = s->max_samples_fraction;
	o.max_features = s->max_features;
	o.max_features_count = s->max_features_count;
	o.bootstrap = s->bootstrap != 0;

	memset(&spec, 0, sizeof(spec));
	SklearnBuildForest(x, n, s->n_features, &o, &spec, &psi);
	spec.header.flags = ISOFOREST_FLAG_FLOAT32 | (o.bootstrap ? ISOFOREST_FLAG_BOOTSTRAP : 0);
	spec.header.n_features = s->n_features;
	spec.header.n_trees = s->n_trees;
	spec.header.psi = psi;
	spec.header.sample_size = psi;
	/* an integer max_features is recorded as the fraction of features it is */
	spec.header.max_features = s->max_features_count > 0 ?
		(double) s->max_features_count / s->n_features : s->max_features;
	spec.header.contamination = s->contamination;
	spec.header.threshold = ISOFOREST_AUTO_THRESHOLD;
	spec.header.threshold_source = ISOFOREST_THRESHOLD_AUTO;
	spec.header.seed = s->seed;
	spec.header.seeded = 1;
	spec.header.rows_used = n;
	spec.header.rows_skipped = s->rows_skipped;
	spec.header.trained_at = GetCurrentTimestamp();
	spec.features = feature_specs(s);
	m = IsoForestModelBuild(&spec);

	if (s->contamination > 0.0)
	{
		/* offset_ = percentile(score_samples(X), 100 c), X rounded to float32 as in fit */
		Forest	   *forest = ForestPrepare(m);
		double	   *values = palloc_extended(sizeof(double) * (Size) n, MCXT_ALLOC_HUGE);
		int64	   *counts = palloc_extended(sizeof(int64) * (Size) n, MCXT_ALLOC_HUGE);
		double	   *row = palloc(sizeof(double) * s->n_features);

		for (int64 i = 0; i < n; i++)
		{
			if ((i & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			memcpy(row, x + i * s->n_features, sizeof(double) * s->n_features);
			(void) ForestPrepareInputs(forest, row);
			values[i] = -ForestScore(forest, 0, row);
			counts[i] = 1;
		}
		m->threshold = -ThresholdPercentile(values, counts, (int32) n, s->contamination);
		m->threshold_source = ISOFOREST_THRESHOLD_EXACT;
		m->calibration_rows = n;
		m->fingerprint = IsoForestFingerprint(m);
	}
	IsoForestValidate(m, VARSIZE(m), ERRCODE_INTERNAL_ERROR);
	return m;
}

/* Grow the forest, set the threshold, return the model (NULL without usable rows). */
Datum
isoforest_fit_finalfn(PG_FUNCTION_ARGS)
{
	FitState   *s;
	IsoForestSpec spec;
	IsoForestModel *m;
	int32		psi;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = DatumGetFitStateP(PG_GETARG_DATUM(0));
	/* the final function may be called directly on any state: trust none */
	FitStateValidate(s, VARSIZE(s), ERRCODE_DATA_CORRUPTED);
	if (s->rows_used == 0)
		PG_RETURN_NULL();

	if (s->compat)
		PG_RETURN_ISOFOREST_MODEL_P(finish_sklearn(s));

	psi = (int32) Min((int64) s->sample_size, s->rows_used);
	if ((2.0 * psi - 1.0) * s->n_trees * sizeof(IsoForestNode) > (double) MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a forest of %d trees grown on %d rows each may exceed the model size limit",
						s->n_trees, psi),
				 errhint("Use fewer trees or a smaller sample_size.")));

	memset(&spec, 0, sizeof(spec));
	spec.header.n_features = s->n_features;
	spec.header.n_trees = s->n_trees;
	spec.header.psi = psi;
	spec.header.sample_size = s->sample_size;
	spec.header.max_features = s->max_features;
	spec.header.contamination = s->contamination;
	spec.header.threshold = ISOFOREST_AUTO_THRESHOLD;
	spec.header.threshold_source = ISOFOREST_THRESHOLD_AUTO;
	spec.header.seed = s->seed;
	spec.header.seeded = s->seeded;
	spec.header.rows_used = s->rows_used;
	spec.header.rows_skipped = s->rows_skipped;
	spec.header.trained_at = GetCurrentTimestamp();
	spec.features = feature_specs(s);
	TreeBuildForest(s, psi, &spec);
	m = IsoForestModelBuild(&spec);

	if (s->contamination > 0.0)
	{
		Forest	   *forest = ForestPrepare(m);
		bool		exact;

		m->threshold = ThresholdFromCalibration(forest, s, &m->calibration_rows, &exact);
		m->threshold_source = exact ? ISOFOREST_THRESHOLD_EXACT : ISOFOREST_THRESHOLD_SAMPLED;
		m->fingerprint = IsoForestFingerprint(m);
	}
	IsoForestValidate(m, VARSIZE(m), ERRCODE_INTERNAL_ERROR);
	PG_RETURN_ISOFOREST_MODEL_P(m);
}

/*
 * features.c
 *		Feature vectors from float8[] arguments, for training and scoring.
 *
 * One policy for both: a feature vector is a one-dimensional float8 array;
 * another shape is an ERROR (22023).  A NULL element, NaN or +-Infinity
 * makes the row unusable: training skips and counts it, scoring returns
 * NULL.  Arrays are read in place (ARR_DATA_PTR), never deconstructed.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"

#include "features.h"

/* The number of elements of a feature array; an ERROR if it is not one-dimensional. */
int
FeatureArrayLength(ArrayType *array)
{
	if (ARR_ELEMTYPE(array) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("feature vector must be float8[]")));
	if (ARR_NDIM(array) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature vector must have one dimension, not %d", ARR_NDIM(array)),
				 errhint("Pass one row at a time, for example ARRAY[a, b, c].")));
	return ARR_DIMS(array)[0];
}

/* Copy n values out of a one-dimensional float8 array, noting NULL and non-finite ones. */
FeatureRowStatus
FeatureArrayRead(ArrayType *array, double *out, int n)
{
	const double *data;

	if (ARR_HASNULL(array) && array_contains_nulls(array))
		return FEATURES_NULL;
	/* ARR_DATA_PTR spelled out: the macro trips -Wsign-compare */
	data = (const double *) ((char *) array + (ARR_HASNULL(array) ? (Size) array->dataoffset
											   : ARR_OVERHEAD_NONULLS(ARR_NDIM(array))));
	for (int i = 0; i < n; i++)
	{
		if (!isfinite(data[i]))
			return FEATURES_NOT_FINITE;
		/* -0 and 0 are one value: hashing and text output must agree */
		out[i] = data[i] == 0.0 ? 0.0 : data[i];
	}
	return FEATURES_OK;
}

/* Apply the model's numeric transforms in place. */
FeatureRowStatus
FeatureApplyTransforms(const Forest *forest, double *x)
{
	for (int f = 0; f < forest->n_features; f++)
	{
		switch (forest->transforms[f])
		{
			case ISOFOREST_TRANSFORM_LOG1P:
				x[f] = log1p(x[f]);
				break;
			case ISOFOREST_TRANSFORM_LN:
				x[f] = log(x[f]);
				break;
			case ISOFOREST_TRANSFORM_SQRT:
				x[f] = sqrt(x[f]);
				break;
			default:
				continue;
		}
		if (!isfinite(x[f]))
			return FEATURES_NOT_FINITE;
	}
	return FEATURES_OK;
}

/*
 * The values to score for an array argument: checked against the model's
 * length, transformed into scratch when the model has transforms.  Sets
 * *isnull (and returns NULL) when the row has a NULL, NaN or Infinity.
 */
const double *
FeatureArrayForScoring(const Forest *forest, ArrayType *array, double *scratch, bool *isnull)
{
	int			n = ARR_NDIM(array) == 0 ? 0 : FeatureArrayLength(array);

	if (forest->has_labels)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("this model has label() features, which a float8[] cannot carry"),
				 errhint("Score rows instead: isoforest.score(model, t) with t a row of the model's source.")));
	if (n != forest->n_features)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature vector has %d elements, but the model expects %d",
						n, forest->n_features)));
	*isnull = FeatureArrayRead(array, scratch, n) != FEATURES_OK ||
		FeatureApplyTransforms(forest, scratch) != FEATURES_OK ||
		!ForestPrepareInputs(forest, scratch);
	return *isnull ? NULL : scratch;
}

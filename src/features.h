/*
 * features.h
 *		Feature vectors from SQL values: shape checks, the NULL/NaN policy and
 *		the numeric transforms.
 */
#ifndef ISOFOREST_FEATURES_H
#define ISOFOREST_FEATURES_H

#include "utils/array.h"

#include "forest.h"

/* What reading one row's features found. */
typedef enum FeatureRowStatus
{
	FEATURES_OK,
	FEATURES_NULL,				/* the array or an element is NULL */
	FEATURES_NOT_FINITE			/* NaN or +-Infinity, before or after a transform */
} FeatureRowStatus;

extern int	FeatureArrayLength(ArrayType *array);
extern FeatureRowStatus FeatureArrayRead(ArrayType *array, double *out, int n);
extern FeatureRowStatus FeatureApplyTransforms(const Forest *forest, double *x);
extern const double *FeatureArrayForScoring(const Forest *forest, ArrayType *array, double *scratch,
											bool *isnull);

#endif							/* ISOFOREST_FEATURES_H */

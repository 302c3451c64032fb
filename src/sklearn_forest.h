/*
 * sklearn_forest.h
 *		Growing scikit-learn 1.2.1's IsolationForest exactly (compat 'sklearn').
 */
#ifndef ISOFOREST_SKLEARN_FOREST_H
#define ISOFOREST_SKLEARN_FOREST_H

#include "isoforest.h"

typedef struct SklearnOptions
{
	int32		n_trees;		/* n_estimators */
	int64		random_state;	/* 0 .. 2^32 - 1 */
	int64		max_samples;	/* an integer, or 0 */
	double		max_samples_fraction;	/* a fraction in (0, 1], or 0 */
	double		max_features;	/* a fraction, when max_features_count is 0 */
	int32		max_features_count; /* an integer, or 0 */
	bool		bootstrap;
} SklearnOptions;

extern void SklearnBuildForest(const double *x, int64 n, int32 d, const SklearnOptions *o,
							   IsoForestSpec *spec, int32 *psi);

#endif							/* ISOFOREST_SKLEARN_FOREST_H */

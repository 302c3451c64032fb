/*
 * threshold.h
 *		The contamination threshold, set on the training rows' scores.
 */
#ifndef ISOFOREST_THRESHOLD_H
#define ISOFOREST_THRESHOLD_H

#include "fit_state.h"
#include "forest.h"

extern double ThresholdPercentile(double *values, int64 *counts, int32 n, double q);
extern double ThresholdFromCalibration(const Forest *forest, const FitState *s, int64 *rows, bool *exact);

#endif							/* ISOFOREST_THRESHOLD_H */

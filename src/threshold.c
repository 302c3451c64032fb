/*
 * threshold.c
 *		Setting the score threshold for a given contamination, as
 *		scikit-learn does: offset_ = percentile(score_samples(X), 100 * c)
 *		with numpy's linear interpolation, and t = -offset_.
 *
 * The scores are those of the calibration sample.  When the sample holds
 * every distinct training row (it never had to be cut), the counts make it
 * the whole training set and the threshold is exactly scikit-learn's for
 * this forest; otherwise it is the same estimate over a uniform sample.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "threshold.h"

typedef struct ScoredRow
{
	double		value;
	int64		count;
} ScoredRow;

static int
scored_row_cmp(const void *a, const void *b)
{
	double		x = ((const ScoredRow *) a)->value;
	double		y = ((const ScoredRow *) b)->value;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The value at 0-based position pos of the sorted list expanded by counts. */
static double
value_at(const ScoredRow *rows, int32 n, int64 pos)
{
	for (int32 i = 0; i < n; i++)
	{
		if (pos < rows[i].count)
			return rows[i].value;
		pos -= rows[i].count;
	}
	return rows[n - 1].value;
}

/*
 * numpy.percentile(a, 100 * q, method='linear') of the multiset in which
 * values[i] occurs counts[i] times.  values and counts are reordered.
 */
double
ThresholdPercentile(double *values, int64 *counts, int32 n, double q)
{
	ScoredRow  *rows = palloc(sizeof(ScoredRow) * n);
	int64		total = 0;
	double		v,
				g,
				lo,
				hi,
				d;
	int64		i;

	for (int32 k = 0; k < n; k++)
	{
		rows[k].value = values[k];
		rows[k].count = counts[k];
		total += counts[k];
	}
	qsort(rows, n, sizeof(ScoredRow), scored_row_cmp);

	/* numpy: q is rounded twice, (100 * c) / 100, then v = (n - 1) * q */
	q = (100.0 * q) / 100.0;
	v = (double) (total - 1) * q;
	if (v >= (double) (total - 1))
		return value_at(rows, n, total - 1);
	if (v < 0)
		return value_at(rows, n, 0);
	i = (int64) floor(v);
	g = v - (double) i;
	lo = value_at(rows, n, i);
	hi = value_at(rows, n, i + 1);
	d = hi - lo;
	pfree(rows);
	return (g >= 0.5) ? hi - d * (1.0 - g) : lo + d * g;
}

/*
 * The threshold t for the state's contamination: score every calibration
 * row, take scikit-learn's offset_ over score_samples (= -s), return
 * -offset_.  *rows is set to the number of rows the percentile saw, *exact
 * to whether they were all the training rows (the sample was never cut).
 */
double
ThresholdFromCalibration(const Forest *forest, const FitState *s, int64 *rows, bool *exact)
{
	Size		slot = FitSlotSize(s->n_features);
	int32		n = s->calib_fill;
	char	   *slots = palloc(slot * Max(n, 1));
	uint64		limit = s->calib_limit;
	double	   *values;
	int64	   *counts;
	double		offset;

	memcpy(slots, FitCalibSlots(s), slot * n);
	n = FitCompact(slots, n, s->n_features, s->calibration_size, &limit);
	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("isoforest calibration sample is empty")));
	*exact = limit == PG_UINT64_MAX;
	values = palloc(sizeof(double) * Max(n, 1));
	counts = palloc(sizeof(int64) * Max(n, 1));
	*rows = 0;
	for (int32 i = 0; i < n; i++)
	{
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		values[i] = -ForestScore(forest, 0, SLOT_X(slots + slot * i));
		counts[i] = SLOT_COUNT(slots + slot * i);
		*rows += counts[i];
	}
	offset = ThresholdPercentile(values, counts, n, s->contamination);
	pfree(slots);
	pfree(values);
	pfree(counts);
	return -offset;
}

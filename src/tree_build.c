/*
 * tree_build.c
 *		Growing one isolation tree per bottom-k sample (Liu, Ting & Zhou 2008).
 *
 * For each tree:
 *	 1. its sample: psi rows drawn uniformly without replacement.  When the
 *		calibration sample holds every distinct row with its count (tables of
 *		up to calibration_size distinct rows), they are drawn from it, exactly
 *		as from the table.  Otherwise they come from the tree's own bottom-k
 *		sample of distinct rows: exactly uniform when no row repeats; with
 *		repeated rows, psi rows are drawn from the sampled rows' counts, which
 *		is uniform in expectation but noisier for heavily repeated values;
 *	 2. the features it may use: max_features * n_features of them, drawn
 *		without replacement (all of them by default);
 *	 3. depth-first growth to depth ceil(log2 psi): at each node a feature
 *		drawn uniformly among those with spread in the node, a threshold
 *		uniform in [min, max), rows with x <= threshold to the left.  A node
 *		whose rows are all equal, or that holds one row, is a leaf, as in
 *		scikit-learn.
 * Every random draw comes from a PRNG seeded by (seed, tree number), so the
 * forest depends only on the seed and the samples.  Rows are carried as
 * (values, weight) pairs: equal rows can never be split apart, so a group of
 * w equal rows behaves exactly like w rows.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "int64_set.h"
#include "rng.h"
#include "tree_build.h"

/* A distinct sample row and how many of the tree's psi rows it stands for. */
typedef struct WeightedRow
{
	const double *x;
	int64		weight;
} WeightedRow;

/* A node waiting to be grown. */
typedef struct PendingNode
{
	int32		lo;				/* rows[lo..hi) reach this node */
	int32		hi;
	int32		depth;
	int32		parent;			/* index of the parent node, -1 for the root */
	bool		is_left;
} PendingNode;

static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* The smallest d with 2^d >= max(psi, 2). */
static int32
depth_limit(int32 psi)
{
	int32		d = 0;

	while (((int64) 1 << d) < Max(psi, 2))
		d++;
	return d;
}

/*
 * Draw psi rows without replacement from the compacted sample's counts,
 * setting rows[i].weight; returns the number of distinct rows drawn.
 */
static int32
draw_rows(char *slots, int32 n, int32 n_features, int32 psi, Rng *rng, WeightedRow *rows)
{
	Size		slot = FitSlotSize(n_features);
	int64		total = 0;
	int32		used = 0;

	for (int32 i = 0; i < n; i++)
	{
		rows[i].x = SLOT_X(slots + slot * i);
		rows[i].weight = 0;
		total += SLOT_COUNT(slots + slot * i);
	}
	if (total < psi)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("isoforest tree sample holds %lld rows, fewer than psi (%d)", (long long) total, psi)));
	if (total == psi)
	{
		for (int32 i = 0; i < n; i++)
			rows[i].weight = SLOT_COUNT(slots + slot * i);
	}
	else
	{
		/* draw one row at a time among those not drawn yet */
		for (int32 k = 0; k < psi; k++)
		{
			int64		r = (int64) rng_below(rng, (uint64) (total - k));
			int32		i = 0;

			for (;; i++)
			{
				int64		left = SLOT_COUNT(slots + slot * i) - rows[i].weight;

				if (r < left)
					break;
				r -= left;
			}
			rows[i].weight++;
		}
	}
	/* keep the drawn rows, in sample order */
	for (int32 i = 0; i < n; i++)
		if (rows[i].weight > 0)
			rows[used++] = rows[i];
	return used;
}

/* Choose the split of rows[lo..hi): false when no allowed feature varies there. */
static bool
choose_split(WeightedRow *rows, int32 lo, int32 hi, const int32 *allowed, int32 n_allowed,
			 int32 *candidates, Rng *rng, int32 *feature, double *threshold)
{
	int32		n_candidates = n_allowed;

	memcpy(candidates, allowed, sizeof(int32) * n_allowed);
	while (n_candidates > 0)
	{
		int32		j = (int32) rng_below(rng, n_candidates);
		int32		f = candidates[j];
		double		min = rows[lo].x[f];
		double		max = min;

		for (int32 i = lo + 1; i < hi; i++)
		{
			double		v = rows[i].x[f];

			if (v < min)
				min = v;
			else if (v > max)
				max = v;
		}
		if (max > min)
		{
			double		t = min + (max - min) * rng_double(rng);

			/* rounding can land on max, which would leave the right side empty */
			if (t >= max)
				t = min;
			*feature = f;
			*threshold = t == 0.0 ? 0.0 : t;	/* no -0 in stored models */
			return true;
		}
		/* constant here: drop it and draw again among the rest */
		candidates[j] = candidates[--n_candidates];
	}
	return false;
}

/* Move rows with x[f] <= t to the front of rows[lo..hi); return where the right side starts. */
static int32
partition_rows(WeightedRow *rows, int32 lo, int32 hi, int32 f, double t)
{
	int32		mid = lo;

	for (int32 i = lo; i < hi; i++)
	{
		if (rows[i].x[f] <= t)
		{
			WeightedRow tmp = rows[mid];

			rows[mid++] = rows[i];
			rows[i] = tmp;
		}
	}
	return mid;
}

/* Grow one tree over rows[0..n); append its nodes at nodes[0..]; return the count. */
static int32
grow_tree(WeightedRow *rows, int32 n, int32 max_depth, const int32 *allowed, int32 n_allowed,
		  Rng *rng, IsoForestNode *nodes)
{
	PendingNode *stack = palloc(sizeof(PendingNode) * ((Size) max_depth + 2));
	int32	   *candidates = palloc(sizeof(int32) * n_allowed);
	int32		depth_of_stack = 0;
	int32		n_nodes = 0;

	stack[depth_of_stack++] = (PendingNode)
	{
		0, n, 0, -1, false
	};
	while (depth_of_stack > 0)
	{
		PendingNode p = stack[--depth_of_stack];
		IsoForestNode *node = &nodes[n_nodes];
		int64		size = 0;
		int32		feature;
		double		threshold;

		for (int32 i = p.lo; i < p.hi; i++)
			size += rows[i].weight;
		node->size = (int32) size;
		if (p.parent >= 0)
		{
			if (p.is_left)
				nodes[p.parent].left = n_nodes;
			else
				nodes[p.parent].right = n_nodes;
		}
		if (p.depth < max_depth && p.hi - p.lo > 1 &&
			choose_split(rows, p.lo, p.hi, allowed, n_allowed, candidates, rng, &feature, &threshold))
		{
			int32		mid = partition_rows(rows, p.lo, p.hi, feature, threshold);

			node->feature = feature;
			node->threshold = threshold;
			/* right pushed first so the left subtree is numbered first (pre-order) */
			stack[depth_of_stack++] = (PendingNode)
			{
				mid, p.hi, p.depth + 1, n_nodes, false
			};
			stack[depth_of_stack++] = (PendingNode)
			{
				p.lo, mid, p.depth + 1, n_nodes, true
			};
		}
		else
		{
			node->feature = -1;
			node->threshold = 0.0;
		}
		node->left = node->right = -1;
		n_nodes++;
	}
	pfree(stack);
	pfree(candidates);
	return n_nodes;
}

/*
 * Every distinct training row with its count, when the calibration sample
 * holds them all; NULL otherwise.  cumulative[i] counts the rows before entry i.
 */
typedef struct ExactPool
{
	char	   *slots;
	int32		n;
	int64	   *cumulative;		/* n + 1 entries; cumulative[n] = rows */
} ExactPool;

/*
 * Every distinct training row with its count, from the calibration sample
 * while the trees have no samples of their own (it then holds every
 * distinct row).  *exact says whether there are at most calibration_size of
 * them, in which case the trees draw from this pool; otherwise each tree
 * takes its bottom-k from it.
 */
static ExactPool *
exact_pool(const FitState *s, bool *exact)
{
	Size		slot = FitSlotSize(s->n_features);
	uint64		all = PG_UINT64_MAX;
	ExactPool  *pool;

	*exact = false;
	if (s->tree_cap > 0)
		return NULL;
	pool = palloc(sizeof(ExactPool));
	pool->slots = palloc(slot * Max(s->calib_fill, 1));
	memcpy(pool->slots, FitCalibSlots(s), slot * s->calib_fill);
	pool->n = FitCompact(pool->slots, s->calib_fill, s->n_features, PG_INT32_MAX, &all);
	pool->cumulative = palloc(sizeof(int64) * ((Size) pool->n + 1));
	pool->cumulative[0] = 0;
	for (int32 i = 0; i < pool->n; i++)
		pool->cumulative[i + 1] = pool->cumulative[i] + SLOT_COUNT(pool->slots + slot * i);
	if (pool->cumulative[pool->n] != s->rows_used)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("isoforest calibration sample holds %lld rows, not %lld",
						(long long) pool->cumulative[pool->n], (long long) s->rows_used)));
	*exact = pool->n <= s->calibration_size;
	return pool;
}

/*
 * Tree t's bottom-k sample taken from the pool, with the hashes
 * FitStateAddRow gives rows: a buffer of 2k entries compacted when full,
 * so the cost is linear in the pool, not a sort of it.
 */
static int32
pool_tree_sample(const ExactPool *pool, const FitState *s, int32 t, char *slots)
{
	Size		slot = FitSlotSize(s->n_features);
	int32		cap = 2 * s->sample_size;
	int32		fill = 0;
	uint64		limit = PG_UINT64_MAX;

	for (int32 i = 0; i < pool->n; i++)
	{
		const char *src = pool->slots + slot * i;
		uint64		ht = FitMix64(SLOT_HASH((char *) src) + (uint64) (t + 1) * UINT64CONST(0x9E3779B97F4A7C15));

		if (ht > limit)
			continue;
		if (fill == cap)
		{
			fill = FitCompact(slots, fill, s->n_features, s->sample_size, &limit);
			if (ht > limit)
				continue;
		}
		memcpy(slots + slot * fill, src, slot);
		SLOT_HASH(slots + slot * fill) = ht;
		fill++;
	}
	return FitCompact(slots, fill, s->n_features, s->sample_size, &limit);
}

/*
 * Draw psi of the pool's rows uniformly without replacement (Floyd's
 * algorithm over row positions), setting rows[] to the distinct rows drawn
 * and their weights; returns how many distinct rows.
 */
static int32
draw_exact(const ExactPool *pool, int32 n_features, int32 psi, Rng *rng, WeightedRow *rows)
{
	Size		slot = FitSlotSize(n_features);
	int64		total = pool->cumulative[pool->n];
	Int64Set	set = Int64SetCreate((uint64) psi);
	int64	   *drawn = palloc(sizeof(int64) * psi);
	int32		n_drawn = 0;
	int32		used = 0;

	for (int64 j = total - psi; j < total; j++)
	{
		int64		t = (int64) rng_below(rng, (uint64) j + 1);

		drawn[n_drawn++] = Int64SetAdd(&set, t) ? t : j;
		if (drawn[n_drawn - 1] == j)
			(void) Int64SetAdd(&set, j);
	}
	/* map each position to the distinct row that holds it */
	for (int32 k = 0; k < psi; k++)
	{
		int32		lo = 0,
					hi = pool->n - 1;

		while (lo < hi)
		{
			int32		mid = lo + (hi - lo + 1) / 2;

			if (pool->cumulative[mid] <= drawn[k])
				lo = mid;
			else
				hi = mid - 1;
		}
		drawn[k] = lo;
	}
	/* rows in pool order, so the tree does not depend on the draw order */
	qsort(drawn, psi, sizeof(int64), int64_cmp);
	for (int32 k = 0; k < psi; k++)
	{
		if (used > 0 && rows[used - 1].x == SLOT_X(pool->slots + slot * drawn[k]))
			rows[used - 1].weight++;
		else
		{
			rows[used].x = SLOT_X(pool->slots + slot * drawn[k]);
			rows[used].weight = 1;
			used++;
		}
	}
	pfree(set.slots);
	pfree(drawn);
	return used;
}

/*
 * Grow every tree of the forest from the state's samples, filling
 * spec->tree_start and spec->nodes.  psi = min(sample_size, rows).
 */
void
TreeBuildForest(const FitState *s, int32 psi, IsoForestSpec *spec)
{
	int32		d = s->n_features;
	Size		slot = FitSlotSize(d);
	int32		max_depth = depth_limit(psi);
	int32		n_allowed = Max(1, (int32) (s->max_features * d));
	int32	   *features = palloc(sizeof(int32) * d);
	bool		exact;
	ExactPool  *pool = exact_pool(s, &exact);
	int32		max_slots = Max(Max(s->tree_cap, 2 * s->sample_size), 1);
	char	   *slots = palloc(slot * max_slots);
	WeightedRow *rows = palloc(sizeof(WeightedRow) * Max(max_slots, psi));
	Size		max_tree_nodes = 2 * (Size) psi - 1;
	int32		n_nodes = 0;

	spec->tree_start = palloc(sizeof(int32) * ((Size) s->n_trees + 1));
	spec->nodes = palloc(sizeof(IsoForestNode) * max_tree_nodes * s->n_trees);
	for (int32 t = 0; t < s->n_trees; t++)
	{
		Rng			rng;
		int32		n_rows;

		CHECK_FOR_INTERRUPTS();
		rng_seed(&rng, (uint64) s->seed ^ FitMix64((uint64) t + 1));

		/* the tree's features: a partial Fisher-Yates shuffle picks n_allowed of d */
		for (int32 f = 0; f < d; f++)
			features[f] = f;
		for (int32 f = 0; f < n_allowed && n_allowed < d; f++)
		{
			int32		j = f + (int32) rng_below(&rng, d - f);
			int32		tmp = features[f];

			features[f] = features[j];
			features[j] = tmp;
		}

		if (exact)
			n_rows = draw_exact(pool, d, psi, &rng, rows);
		else if (pool != NULL)
			n_rows = draw_rows(slots, pool_tree_sample(pool, s, t, slots), d, psi, &rng, rows);
		else
		{
			int32		fill = FitTreeFill(s)[t];
			uint64		limit = FitTreeLimit(s)[t];

			memcpy(slots, FitTreeSlots(s, t), slot * fill);
			fill = FitCompact(slots, fill, d, s->sample_size, &limit);
			n_rows = draw_rows(slots, fill, d, psi, &rng, rows);
		}

		spec->tree_start[t] = n_nodes;
		n_nodes += grow_tree(rows, n_rows, max_depth, features, n_allowed, &rng,
							 spec->nodes + n_nodes);
	}
	spec->tree_start[s->n_trees] = n_nodes;
	pfree(features);
	pfree(slots);
	pfree(rows);
}

/*
 * sklearn_forest.c
 *		The forest scikit-learn 1.2.1 grows, bit for bit (compat 'sklearn').
 *
 * Given the same rows in the same order and the same integer random_state,
 * this grows the trees IsolationForest(...).fit(X) grows: numpy's legacy
 * MT19937 RandomState for the targets, the seeds, the feature subsets and
 * the row samples; scikit-learn's rand_r for the splitter; the depth-first
 * builder with the random splitter and the squared-error criterion, whose
 * impurities decide the few "impurity <= EPSILON" leaves.  The steps and
 * their floating-point order are those of the specification in
 * references/sklearn-parity.md (numbers in comments refer to its sections).
 * Built with -ffp-contract=off; squares are products, never pow().
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "int64_set.h"
#include "sklearn_forest.h"

#define MT_N 624
#define MT_M 397
#define MAX_INT 2147483647		/* np.iinfo(np.int32).max */
#define RAND_R_MAX 0x7FFFFFFF
#define SK_EPSILON 2.220446049250313e-16	/* DBL_EPSILON */
#define FEATURE_THRESHOLD_F 1e-7f	/* a float32 constant in scikit-learn */

/* ------------------------------------------------ numpy RandomState (2.1-2.4) */

typedef struct Mt
{
	uint32		key[MT_N];
	int			pos;
} Mt;

static void
mt_seed(Mt *mt, uint32 s)
{
	for (int i = 0; i < MT_N; i++)
	{
		mt->key[i] = s;
		s = 1812433253U * (s ^ (s >> 30)) + (uint32) i + 1;
	}
	mt->pos = MT_N;
}

static uint32
mt_next32(Mt *mt)
{
	uint32		y;

	if (mt->pos == MT_N)
	{
		for (int i = 0; i < MT_N; i++)
		{
			y = (mt->key[i] & 0x80000000U) | (mt->key[(i + 1) % MT_N] & 0x7FFFFFFFU);
			mt->key[i] = mt->key[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1) ? 0x9908B0DFU : 0);
		}
		mt->pos = 0;
	}
	y = mt->key[mt->pos++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9D2C5680U;
	y ^= (y << 15) & 0xEFC60000U;
	y ^= y >> 18;
	return y;
}

static uint64
mt_next64(Mt *mt)
{
	uint64		hi = mt_next32(mt);

	return (hi << 32) | mt_next32(mt);
}

/* random_sample(): a double in [0, 1) from 53 bits */
static double
mt_random_sample(Mt *mt)
{
	uint32		a = mt_next32(mt) >> 5;
	uint32		b = mt_next32(mt) >> 6;

	return (a * 67108864.0 + b) / 9007199254740992.0;
}

static uint64
smear(uint64 v)
{
	v |= v >> 1;
	v |= v >> 2;
	v |= v >> 4;
	v |= v >> 8;
	v |= v >> 16;
	v |= v >> 32;
	return v;
}

/* Legacy masked bounded integer in [0, rng]; rng = 0 draws nothing. */
static uint64
mt_bounded(Mt *mt, uint64 rng)
{
	uint64		mask,
				v;

	if (rng == 0)
		return 0;
	if (rng <= 0xFFFFFFFFU)
	{
		if (rng == 0xFFFFFFFFU)
			return mt_next32(mt);
		mask = smear(rng);
		do
			v = mt_next32(mt) & mask;
		while (v > rng);
		return v;
	}
	if (rng == PG_UINT64_MAX)
		return mt_next64(mt);
	mask = smear(rng);
	do
		v = mt_next64(mt) & mask;
	while (v > rng);
	return v;
}

/* randint(low, high): [low, high) */
static int64
mt_randint(Mt *mt, int64 low, int64 high)
{
	return low + (int64) mt_bounded(mt, (uint64) (high - 1 - low));
}

/* random_interval(max): [0, max], as legacy shuffle draws it */
static uint64
mt_interval(Mt *mt, uint64 max)
{
	uint64		mask,
				v;

	if (max == 0)
		return 0;
	mask = smear(max);
	if (max <= 0xFFFFFFFFU)
	{
		do
			v = mt_next32(mt) & mask;
		while (v > max);
	}
	else
	{
		do
			v = mt_next64(mt) & mask;
		while (v > max);
	}
	return v;
}

/* sklearn's sample_without_replacement(n_pop, n, rs), method 'auto' (2.6) */
static void
sample_without_replacement(int64 n_pop, int64 n, Mt *rs, int64 *out)
{
	double		ratio = n_pop != 0 ? (double) n / (double) n_pop : 1.0;

	if (0.01 < ratio && ratio < 0.99)
	{
		int64	   *arr = palloc(sizeof(int64) * Max(n_pop, 1));

		for (int64 i = 0; i < n_pop; i++)
			arr[i] = i;
		for (int64 i = n_pop - 1; i >= 1; i--)
		{
			int64		j = (int64) mt_interval(rs, (uint64) i);
			int64		tmp = arr[i];

			arr[i] = arr[j];
			arr[j] = tmp;
		}
		memcpy(out, arr, sizeof(int64) * n);
		pfree(arr);
	}
	else if (ratio < 0.2)
	{
		Int64Set	selected = Int64SetCreate((uint64) n);

		for (int64 k = 0; k < n; k++)
		{
			int64		j = mt_randint(rs, 0, n_pop);

			while (!Int64SetAdd(&selected, j))
				j = mt_randint(rs, 0, n_pop);
			out[k] = j;
		}
		pfree(selected.slots);
	}
	else
	{
		for (int64 k = 0; k < n; k++)
			out[k] = k;
		for (int64 i = n; i < n_pop; i++)
		{
			int64		j = mt_randint(rs, 0, i + 1);

			if (j < n)
				out[j] = i;
		}
	}
}

/* ------------------------------------------------------------ rand_r (2.5) */

static uint32
our_rand_r(uint32 *s)
{
	if (*s == 0)
		*s = 1;
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s % ((uint32) RAND_R_MAX + 1);
}

static int64
rand_int(int64 low, int64 high, uint32 *s)
{
	return low + our_rand_r(s) % (high - low);
}

static double
rand_uniform(double low, double high, uint32 *s)
{
	return ((high - low) * (double) our_rand_r(s) / (double) RAND_R_MAX) + low;
}

/* ---------------------------------------------------------- one tree (4) */

typedef struct Builder
{
	const float *const *cols;	/* cols[local feature][row], float32 */
	const double *y;
	const double *w;
	double		weighted_n_samples;
	int64	   *samples;		/* in-bag rows, increasing */
	float	   *xf;
	int32		k;				/* features this tree may use */
	int32	   *features;		/* persistent across nodes */
	int32	   *constant_features;
	uint32		rng;
	/* the criterion over samples[start, end) */
	int64		start,
				end;
	double		sum_total,
				sq_sum_total,
				wn;
} Builder;

static void
crit_init(Builder *b, int64 start, int64 end)
{
	double		s = 0.0,
				sq = 0.0,
				wn = 0.0;

	for (int64 p = start; p < end; p++)
	{
		int64		i = b->samples[p];
		double		wy = b->w[i] * b->y[i];

		s += wy;
		sq += wy * b->y[i];
		wn += b->w[i];
	}
	b->start = start;
	b->end = end;
	b->sum_total = s;
	b->sq_sum_total = sq;
	b->wn = wn;
}

static double
crit_node_impurity(const Builder *b)
{
	double		m = b->sum_total / b->wn;
	double		imp = b->sq_sum_total / b->wn;

	imp -= m * m;
	return imp / 1.0;
}

/* reset() then update(new_pos): the left sums, from whichever end is nearer */
static void
crit_update(const Builder *b, int64 new_pos, double *sl, double *sr, double *wl, double *wr)
{
	if ((new_pos - b->start) <= (b->end - new_pos))
	{
		*sl = 0.0;
		*wl = 0.0;
		for (int64 p = b->start; p < new_pos; p++)
		{
			int64		i = b->samples[p];

			*sl += b->w[i] * b->y[i];
			*wl += b->w[i];
		}
	}
	else
	{
		*sl = b->sum_total;
		*wl = b->wn;
		for (int64 p = b->end - 1; p >= new_pos; p--)
		{
			int64		i = b->samples[p];

			*sl -= b->w[i] * b->y[i];
			*wl -= b->w[i];
		}
	}
	*wr = b->wn - *wl;
	*sr = b->sum_total - *sl;
}

static void
crit_children_impurity(const Builder *b, int64 pos, double sl, double sr, double wl, double wr,
					   double *il, double *ir)
{
	double		sq_left = 0.0;
	double		sq_right;
	double		ml = sl / wl,
				mr = sr / wr;

	for (int64 p = b->start; p < pos; p++)
	{
		int64		i = b->samples[p];

		sq_left += b->w[i] * b->y[i] * b->y[i];
	}
	sq_right = b->sq_sum_total - sq_left;
	*il = sq_left / wl;
	*ir = sq_right / wr;
	*il -= ml * ml;
	*ir -= mr * mr;
	*il = *il / 1.0;
	*ir = *ir / 1.0;
}

typedef struct Split
{
	int64		pos;
	int32		feature;		/* local */
	double		threshold;
	double		il,
				ir,
				improvement;
} Split;

/* RandomSplitter.node_split with max_features = 1 (4.4); returns n_const for the children */
static int32
node_split(Builder *b, int64 start, int64 end, double impurity, int32 n_const, Split *best)
{
	int32		f_i = b->k,
				n_visited = 0,
				n_found = 0,
				n_drawn = 0,
				n_known = n_const,
				n_total = n_known;
	int32		cur_feature = -1;
	double		best_proxy = -get_float8_infinity();

	best->pos = end;
	best->feature = 0;
	best->threshold = 0.0;
	while (f_i > n_total && (n_visited < 1 || n_visited <= n_found + n_drawn))
	{
		int32		f_j;
		float		vmin,
					vmax,
					limit;
		const float *col;
		double		thr,
					sl,
					sr,
					wl,
					wr,
					proxy;
		int64		p,
					pend;

		n_visited++;
		f_j = (int32) rand_int(n_drawn, f_i - n_found, &b->rng);
		if (f_j < n_known)
		{
			int32		tmp = b->features[n_drawn];

			b->features[n_drawn] = b->features[f_j];
			b->features[f_j] = tmp;
			n_drawn++;
			continue;
		}
		f_j += n_found;
		cur_feature = b->features[f_j];
		col = b->cols[cur_feature];
		vmin = vmax = col[b->samples[start]];
		b->xf[start] = vmin;
		for (p = start + 1; p < end; p++)
		{
			float		v = col[b->samples[p]];

			b->xf[p] = v;
			if (v < vmin)
				vmin = v;
			else if (v > vmax)
				vmax = v;
		}
		limit = vmin + FEATURE_THRESHOLD_F; /* a float32 sum, rounded (1 rule 4) */
		if (vmax <= limit)
		{
			b->features[f_j] = b->features[n_total];
			b->features[n_total] = cur_feature;
			n_found++;
			n_total++;
			continue;
		}
		f_i--;
		b->features[f_j] = b->features[f_i];
		b->features[f_i] = cur_feature;
		thr = rand_uniform((double) vmin, (double) vmax, &b->rng);
		if (thr == (double) vmax)
			thr = vmin;
		p = start;
		pend = end;
		while (p < pend)
		{
			if ((double) b->xf[p] <= thr)
				p++;
			else
			{
				float		tx = b->xf[p];
				int64		ts = b->samples[p];

				pend--;
				b->xf[p] = b->xf[pend];
				b->xf[pend] = tx;
				b->samples[p] = b->samples[pend];
				b->samples[pend] = ts;
			}
		}
		if (pend - start < 1 || end - pend < 1)
			continue;
		crit_update(b, pend, &sl, &sr, &wl, &wr);
		if (wl < 0.0 || wr < 0.0)
			continue;
		proxy = sl * sl / wl + sr * sr / wr;
		if (proxy > best_proxy)
		{
			best_proxy = proxy;
			best->pos = pend;
			best->feature = cur_feature;
			best->threshold = thr;
		}
	}
	if (best->pos < end)
	{
		double		sl,
					sr,
					wl,
					wr;

		if (cur_feature != best->feature)
		{
			const float *col = b->cols[best->feature];
			int64		p = start,
						pend = end;

			while (p < pend)
			{
				if ((double) col[b->samples[p]] <= best->threshold)
					p++;
				else
				{
					int64		ts = b->samples[p];

					pend--;
					b->samples[p] = b->samples[pend];
					b->samples[pend] = ts;
				}
			}
		}
		crit_update(b, best->pos, &sl, &sr, &wl, &wr);
		crit_children_impurity(b, best->pos, sl, sr, wl, wr, &best->il, &best->ir);
		best->improvement = (b->wn / b->weighted_n_samples) *
			(impurity - (wr / b->wn * best->ir) - (wl / b->wn * best->il));
	}
	memcpy(b->features, b->constant_features, sizeof(int32) * n_known);
	memcpy(b->constant_features + n_known, b->features + n_known, sizeof(int32) * n_found);
	return n_total;
}

typedef struct Pending
{
	int64		start,
				end;
	int32		depth;
	int32		parent;
	bool		is_left;
	double		impurity;
	int32		n_const;
} Pending;

/* DepthFirstTreeBuilder.build (4.2): nodes appended to out[], pre-order; returns the count */
static int32
build_tree(Builder *b, int64 n_s, int32 max_depth, const int32 *global_feature, IsoForestNode *out)
{
	Pending    *stack = palloc(sizeof(Pending) * (2 * (Size) max_depth + 4));
	int32		top = 0;
	int32		n_nodes = 0;
	bool		first = true;

	stack[top++] = (Pending)
	{
		0, n_s, 0, -1, false, get_float8_infinity(), 0
	};
	while (top > 0)
	{
		Pending		e = stack[--top];
		int64		n_node = e.end - e.start;
		bool		is_leaf;
		Split		split;
		IsoForestNode *node = &out[n_nodes];

		crit_init(b, e.start, e.end);
		is_leaf = e.depth >= max_depth || n_node < 2 || b->wn < 0.0;
		if (first)
		{
			e.impurity = crit_node_impurity(b);
			first = false;
		}
		is_leaf = is_leaf || e.impurity <= SK_EPSILON;
		if (!is_leaf)
		{
			e.n_const = node_split(b, e.start, e.end, e.impurity, e.n_const, &split);
			is_leaf = split.pos >= e.end || split.improvement + SK_EPSILON < 0.0;
		}
		if (e.parent >= 0)
		{
			if (e.is_left)
				out[e.parent].left = n_nodes;
			else
				out[e.parent].right = n_nodes;
		}
		node->size = (int32) n_node;
		node->left = node->right = -1;
		if (is_leaf)
		{
			node->feature = -1;
			node->threshold = 0.0;
		}
		else
		{
			node->feature = global_feature[split.feature];
			node->threshold = split.threshold == 0.0 ? 0.0 : split.threshold;
			stack[top++] = (Pending)
			{
				split.pos, e.end, e.depth + 1, n_nodes, false, split.ir, e.n_const
			};
			stack[top++] = (Pending)
			{
				e.start, split.pos, e.depth + 1, n_nodes, true, split.il, e.n_const
			};
		}
		n_nodes++;
	}
	pfree(stack);
	return n_nodes;
}

/* ----------------------------------------------------------- the forest (3) */

/*
 * Grow scikit-learn's forest on the n rows x[n][d] (in order) into spec's
 * trees; sets *psi to max_samples_.  Errors when the options are outside
 * what scikit-learn accepts.
 */
void
SklearnBuildForest(const double *x, int64 n, int32 d, const SklearnOptions *o,
				   IsoForestSpec *spec, int32 *psi_out)
{
	float	  **cols = palloc(sizeof(float *) * d);
	double	   *y = palloc(sizeof(double) * n);
	double	   *w = palloc(sizeof(double) * n);
	int64	   *indices;
	int64	   *samples = palloc(sizeof(int64) * n);
	float	   *xf = palloc(sizeof(float) * n);
	const float **tree_cols = palloc(sizeof(float *) * d);
	int64	   *feature_draw = palloc(sizeof(int64) * d);
	int32	   *global_feature = palloc(sizeof(int32) * d);
	int32	   *features = palloc(sizeof(int32) * d);
	int32	   *constant_features = palloc(sizeof(int32) * d);
	Mt		   *mt = palloc(sizeof(Mt));
	Mt		   *bag = palloc(sizeof(Mt));
	int64	   *seeds;
	int64		max_samples;
	int32		k,
				max_depth = 0;
	int32		n_nodes = 0;
	Size		cap;

	/* X as float32, column-major (3.1); values beyond float32 become infinite and are refused */
	for (int32 f = 0; f < d; f++)
	{
		cols[f] = palloc(sizeof(float) * n);
		for (int64 i = 0; i < n; i++)
		{
			cols[f][i] = (float) x[i * d + f];
			if (!isfinite(cols[f][i]))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("feature %d of row %lld is too large for float32, as scikit-learn requires",
								f + 1, (long long) i + 1)));
		}
	}

	/* the random target (3.2) */
	mt_seed(mt, (uint32) o->random_state);
	for (int64 i = 0; i < n; i++)
		y[i] = mt_random_sample(mt);

	/* max_samples_, max_depth, k (3.3-3.5) */
	if (o->max_samples_fraction > 0.0)
		max_samples = (int64) (o->max_samples_fraction * (double) n);
	else if (o->max_samples > 0)
		max_samples = Min(o->max_samples, n);
	else
		max_samples = Min(256, n);
	if (max_samples < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_samples gives %lld rows per tree; scikit-learn needs at least 1",
						(long long) max_samples)));
	while (((int64) 1 << max_depth) < Max(max_samples, 2))
		max_depth++;
	k = o->max_features_count > 0 ? o->max_features_count : (int32) (o->max_features * d);
	if (k > d)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_features is %d but there are %d features", k, d)));
	k = Max(1, k);

	/* the trees' seeds, from a fresh generator (3.6) */
	seeds = palloc(sizeof(int64) * o->n_trees);
	mt_seed(bag, (uint32) o->random_state);
	for (int32 t = 0; t < o->n_trees; t++)
		seeds[t] = mt_randint(bag, 0, MAX_INT);

	indices = palloc(sizeof(int64) * max_samples);
	cap = (Size) o->n_trees * (2 * (Size) max_samples - 1);
	spec->tree_start = palloc(sizeof(int32) * ((Size) o->n_trees + 1));
	if (cap > MaxAllocSize / sizeof(IsoForestNode))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%d trees of %lld rows each may exceed the model size limit", o->n_trees, (long long) max_samples)));
	spec->nodes = palloc(sizeof(IsoForestNode) * cap);
	for (int32 t = 0; t < o->n_trees; t++)
	{
		uint32		rand_r_state;
		int64		tree_seed;
		int64		n_s = 0;
		Builder		b;

		CHECK_FOR_INTERRUPTS();
		mt_seed(mt, (uint32) seeds[t]);
		tree_seed = mt_randint(mt, 0, MAX_INT);
		mt_seed(mt, (uint32) seeds[t]);
		sample_without_replacement(d, k, mt, feature_draw);
		if (o->bootstrap)
			for (int64 j = 0; j < max_samples; j++)
				indices[j] = mt_randint(mt, 0, n);
		else
			sample_without_replacement(n, max_samples, mt, indices);

		/* weights: in-bag 1 (bootstrap: the draw count); only the set matters (3.7.5) */
		memset(w, 0, sizeof(double) * n);
		for (int64 j = 0; j < max_samples; j++)
			w[indices[j]] = o->bootstrap ? w[indices[j]] + 1.0 : 1.0;
		for (int64 i = 0; i < n; i++)
			if (w[i] != 0.0)
				samples[n_s++] = i;

		for (int32 f = 0; f < k; f++)
		{
			global_feature[f] = (int32) feature_draw[f];
			tree_cols[f] = cols[feature_draw[f]];
			features[f] = f;
		}
		memset(constant_features, 0, sizeof(int32) * d);
		mt_seed(mt, (uint32) tree_seed);
		rand_r_state = (uint32) mt_randint(mt, 0, RAND_R_MAX);

		b.cols = tree_cols;
		b.y = y;
		b.w = w;
		/* the sum of the weights in row order: integers, so exact in any order */
		b.weighted_n_samples = o->bootstrap ? (double) max_samples : (double) n_s;
		b.samples = samples;
		b.xf = xf;
		b.k = k;
		b.features = features;
		b.constant_features = constant_features;
		b.rng = rand_r_state;
		spec->tree_start[t] = n_nodes;
		n_nodes += build_tree(&b, n_s, max_depth, global_feature, spec->nodes + n_nodes);
	}
	spec->tree_start[o->n_trees] = n_nodes;
	*psi_out = (int32) max_samples;

	for (int32 f = 0; f < d; f++)
		pfree(cols[f]);
	pfree(cols);
	pfree(y);
	pfree(w);
	pfree(samples);
	pfree(xf);
	pfree(indices);
	pfree(seeds);
	pfree(mt);
	pfree(bag);
}

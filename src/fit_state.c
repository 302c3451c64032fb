/*
 * fit_state.c
 *		The mergeable sample behind isoforest.fit.
 *
 * Each tree needs its own uniform subsample of psi rows; the threshold
 * needs the scores of (a uniform sample of) all rows.  Both come from
 * bottom-k sampling by a seeded hash of the row's values: every row gets a
 * 64-bit hash per tree (and one for calibration), and a sample keeps the k
 * distinct rows with the smallest hashes.  The sample is then a function of
 * the seed and the multiset of rows only: no row order, no split of the
 * input among parallel workers or Citus shards changes it, and two partial
 * samples merge into the sample of their union.
 *
 * Equal rows have equal hashes, so a sample entry is a distinct row with
 * its count (tree_build.c turns counts back into a row sample).  The counts are exact: a row enters while its hash is at most
 * the buffer's limit, the limit only falls, so every copy of a row that is
 * still in the sample has been counted (in every partition it occurs in,
 * which is why a merge starts from the smaller of the two limits).
 *
 * Buffers hold up to 2k entries; when one fills, it is sorted by hash,
 * equal rows are merged, and it is cut back to the k smallest, which sets
 * the new limit.  Memory is bounded by n_trees * 2 * sample_size rows plus
 * 2 * calibration_size rows, whatever the table size.
 *
 * The calibration sample keeps the calibration_size distinct rows with the
 * smallest hashes under a hash of its own.  When the table has no more
 * distinct rows than that, it is the whole table with exact counts.
 */
#include "postgres.h"

#include <math.h>

#include "common/base64.h"
#include "libpq/pqformat.h"
#include "port.h"
#include "utils/memutils.h"

#include "fit_state.h"

#define GOLDEN_GAMMA UINT64CONST(0x9E3779B97F4A7C15)

/* Initial buffer sizes; both double as rows arrive. */
#define INITIAL_TREE_CAP	16
#define INITIAL_CALIB_CAP	256

/* splitmix64's finalizer: a bijective 64-bit mix. */
uint64
FitMix64(uint64 z)
{
	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* The seeded hash of a row's values (bit patterns; -0 was already made 0). */
static uint64
row_hash(const double *x, int32 n, uint64 seed)
{
	uint64		h = FitMix64(seed ^ UINT64CONST(0x5851F42D4C957F2D));

	for (int32 i = 0; i < n; i++)
	{
		uint64		bits;

		memcpy(&bits, &x[i], sizeof(bits));
		h = FitMix64(h ^ bits) + GOLDEN_GAMMA;
	}
	return h;
}

/* Allocate a state with these buffer sizes, copying everything from src (if any). */
static FitState *
state_alloc(const FitState *src, int32 tree_cap, int32 calib_cap)
{
	FitState	shape = *src;
	FitState   *s;
	Size		slot = FitSlotSize(src->n_features);

	shape.tree_cap = tree_cap;
	shape.calib_cap = calib_cap;
	if (FitStateSize(&shape) > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("isoforest.fit needs %zu bytes for its samples, more than the limit of %zu",
						FitStateSize(&shape), (Size) MaxAllocSize),
				 errdetail("%d trees x %d sample rows x %d features.",
						   src->n_trees, src->sample_size, src->n_features),
				 errhint("Use fewer trees, a smaller sample_size or a smaller calibration_size.")));
	/* slots past each buffer's fill are never read, so only the header is zeroed */
	s = palloc(FitStateSize(&shape));
	memset(s, 0, FitTreesOffset(&shape));
	*s = shape;
	SET_VARSIZE(s, FitStateSize(s));
	memcpy(FitTreeLimit(s), FitTreeLimit(src), sizeof(uint64) * src->n_trees);
	if (tree_cap == 0)
		memset(FitTreeFill(s), 0, sizeof(int32) * src->n_trees);	/* no tree samples */
	else
	{
		memcpy(FitTreeFill(s), FitTreeFill(src), sizeof(int32) * src->n_trees);
		for (int32 t = 0; t < src->n_trees && src->tree_cap > 0; t++)
		{
			Assert(FitTreeFill(src)[t] <= tree_cap);
			memcpy(FitTreeSlots(s, t), FitTreeSlots(src, t), slot * FitTreeFill(src)[t]);
		}
	}
	Assert(src->calib_fill <= calib_cap);
	if (src->calib_fill > 0)
		memcpy(FitCalibSlots(s), FitCalibSlots(src), slot * src->calib_fill);
	memcpy(FitNames(s), FitNames(src), src->names_len);
	return s;
}

/* A new, empty state for these options. */
FitState *
FitStateCreate(const FitOptions *options)
{
	FitState	shape;
	FitState   *s;

	memset(&shape, 0, sizeof(shape));
	shape.version = FIT_STATE_VERSION;
	shape.n_trees = options->n_trees;
	shape.sample_size = options->sample_size;
	shape.calibration_size = options->calibration_size;
	shape.max_features = options->max_features;
	shape.contamination = options->contamination;
	shape.seed = options->seed;
	shape.seeded = options->seeded ? 1 : 0;
	shape.compat = options->compat ? 1 : 0;
	shape.bootstrap = options->bootstrap ? 1 : 0;
	shape.max_samples = options->max_samples;
	shape.max_samples_fraction = options->max_samples_fraction;
	shape.max_features_count = options->max_features_count;
	shape.calib_limit = PG_UINT64_MAX;
	shape.n_names = options->n_declared;
	if (options->features_json != NULL)
		shape.names_len = strlen(options->features_json) + 1;

	s = palloc0(FitStateSize(&shape));
	*s = shape;
	SET_VARSIZE(s, FitStateSize(s));
	for (int32 t = 0; t < s->n_trees; t++)
		FitTreeLimit(s)[t] = PG_UINT64_MAX;
	if (options->features_json != NULL)
		strcpy(FitNames(s), options->features_json);
	return s;
}

/* Fix the number of features (at the first usable row) and make the first buffers. */
FitState *
FitStateSetFeatures(FitState *s, int32 n_features)
{
	FitState   *grown;

	Assert(s->n_features == 0);
	s->n_features = n_features;
	/* the trees start with no samples of their own: see trees_start */
	grown = state_alloc(s, 0, Min(INITIAL_CALIB_CAP, 2 * s->calibration_size));
	s->n_features = 0;
	return grown;
}

/* A slot's sort key: its hash, then its position (a stable, total order). */
typedef struct SlotKey
{
	uint64		hash;
	int32		pos;
} SlotKey;

#define ST_SORT sort_slot_keys
#define ST_ELEMENT_TYPE SlotKey
#define ST_COMPARE(a, b) \
	((a)->hash != (b)->hash ? ((a)->hash < (b)->hash ? -1 : 1) : ((a)->pos > (b)->pos) - ((a)->pos < (b)->pos))
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Sort a buffer by hash, merge equal rows, drop rows above *limit and keep
 * the 'keep' smallest; lower *limit to the largest hash kept when rows were
 * cut.  Returns the new number of entries.  Only keys are sorted; the
 * slots move once, at the end.
 */
int32
FitCompact(char *slots, int32 fill, int32 n_features, int32 keep, uint64 *limit)
{
	Size		slot = FitSlotSize(n_features);
	Size		xbytes = sizeof(double) * n_features;
	SlotKey    *keys = palloc(sizeof(SlotKey) * Max(fill, 1));
	int32	   *kept = palloc(sizeof(int32) * Max(Min(fill, keep), 1));
	int32		out = 0;
	int32		run_start = 0;	/* first kept entry with the current hash */
	char	   *scratch;

	for (int32 i = 0; i < fill; i++)
	{
		keys[i].hash = SLOT_HASH(slots + slot * i);
		keys[i].pos = i;
	}
	sort_slot_keys(keys, fill);
	for (int32 i = 0; i < fill; i++)
	{
		char	   *cur = slots + slot * keys[i].pos;
		bool		merged = false;

		if (keys[i].hash > *limit)
			break;
		if (out == 0 || SLOT_HASH(slots + slot * kept[out - 1]) != keys[i].hash)
			run_start = out;
		/* equal rows have equal hashes; equal hashes are almost always equal rows */
		for (int32 j = run_start; j < out && !merged; j++)
		{
			char	   *k = slots + slot * kept[j];

			if (memcmp(SLOT_X(k), SLOT_X(cur), xbytes) == 0)
			{
				SLOT_COUNT(k) += SLOT_COUNT(cur);
				merged = true;
			}
		}
		if (merged)
			continue;
		if (out == keep)
		{
			*limit = SLOT_HASH(slots + slot * kept[out - 1]);
			break;
		}
		kept[out++] = keys[i].pos;
	}
	scratch = palloc(slot * Max(out, 1));
	for (int32 i = 0; i < out; i++)
		memcpy(scratch + slot * i, slots + slot * kept[i], slot);
	memcpy(slots, scratch, slot * out);
	pfree(scratch);
	pfree(kept);
	pfree(keys);
	return out;
}

/* Append a row to a buffer that has room. */
static inline void
append_slot(char *slots, int32 *fill, Size slot, uint64 hash, const double *x, int32 n_features)
{
	char	   *dst = slots + slot * (*fill)++;

	SLOT_HASH(dst) = hash;
	SLOT_COUNT(dst) = 1;
	memcpy(SLOT_X(dst), x, sizeof(double) * n_features);
}

/* Insert a sample entry into tree t's buffer, if its hash is under the limit. */
static FitState *
tree_insert(FitState *s, int32 t, uint64 ht, int64 count, const double *x)
{
	int32		d = s->n_features;

	if (ht > FitTreeLimit(s)[t])
		return s;
	if (FitTreeFill(s)[t] == s->tree_cap)
	{
		if (s->tree_cap < 2 * s->sample_size)
			s = state_alloc(s, Min(Max(2 * s->tree_cap, INITIAL_TREE_CAP), 2 * s->sample_size),
							s->calib_cap);
		else
			FitTreeFill(s)[t] = FitCompact(FitTreeSlots(s, t), FitTreeFill(s)[t], d, s->sample_size,
										   &FitTreeLimit(s)[t]);
		if (ht > FitTreeLimit(s)[t])
			return s;
	}
	append_slot(FitTreeSlots(s, t), &FitTreeFill(s)[t], FitSlotSize(d), ht, x, d);
	SLOT_COUNT(FitTreeSlots(s, t) + FitSlotSize(d) * (FitTreeFill(s)[t] - 1)) = count;
	return s;
}

/* Offer a distinct row (with its calibration hash and count) to every tree. */
static FitState *
trees_add(FitState *s, uint64 hc, int64 count, const double *x)
{
	for (int32 t = 0; t < s->n_trees; t++)
		s = tree_insert(s, t, FitMix64(hc + (uint64) (t + 1) * GOLDEN_GAMMA), count, x);
	return s;
}

/*
 * Start the per-tree samples from n calibration entries that hold every
 * distinct row seen so far.  Until then the calibration sample alone
 * represents the rows exactly, so the trees need no samples of their own;
 * this keeps memory near the table's size for small tables and groups.
 */
static FitState *
trees_start(FitState *s, const char *entries, int32 n)
{
	Size		slot = FitSlotSize(s->n_features);
	char	   *copy = palloc(slot * Max(n, 1));

	Assert(s->tree_cap == 0);
	memcpy(copy, entries, slot * n);	/* entries may sit in s, which grows */
	s = state_alloc(s, Min(INITIAL_TREE_CAP, 2 * s->sample_size), s->calib_cap);
	for (int32 i = 0; i < n; i++)
		s = trees_add(s, SLOT_HASH(copy + slot * i), SLOT_COUNT(copy + slot * i), SLOT_X(copy + slot * i));
	pfree(copy);
	return s;
}

/* Is the calibration sample still every distinct row? (The trees start when it is not.) */
static inline bool
calib_is_exact(const FitState *s)
{
	return s->tree_cap == 0;
}

/*
 * Add one usable row.  Returns the state, which is a new allocation when a
 * buffer had to grow (the old one is then no longer used).
 */
FitState *
FitStateAddRow(FitState *s, const double *x)
{
	int32		d = s->n_features;
	uint64		hc;

	if (s->compat)
	{
		/* scikit-learn's forest depends on every row and its position: keep them all, in order */
		if (s->calib_fill == s->calib_cap)
		{
			if (s->calib_cap >= s->calibration_size)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("compat 'sklearn' keeps every training row in memory, and this fit has more than %d",
								s->calibration_size),
						 errdetail("Each row takes %zu bytes.", FitSlotSize(d)),
						 errhint("Raise the option calibration_size (at most %d rows), or train without compat.",
								 FIT_MAX_CALIBRATION)));
			s = state_alloc(s, 0, Min(Max(2 * s->calib_cap, INITIAL_CALIB_CAP), s->calibration_size));
		}
		append_slot(FitCalibSlots(s), &s->calib_fill, FitSlotSize(d), 0, x, d);
		s->rows_used++;
		return s;
	}
	hc = FitMix64(row_hash(x, d, (uint64) s->seed));

	/*
	 * The calibration sample sets a contamination threshold, and while it
	 * holds every distinct row it is also the trees' sample.  Without a
	 * contamination, once the trees have their own samples it has no use.
	 */
	if (s->contamination > 0.0 ? hc <= s->calib_limit : calib_is_exact(s))
	{
		if (s->calib_fill == s->calib_cap)
		{
			if (s->calib_cap < 2 * s->calibration_size)
				s = state_alloc(s, s->tree_cap, Min(Max(2 * s->calib_cap, INITIAL_CALIB_CAP), 2 * s->calibration_size));
			else
			{
				if (calib_is_exact(s))
				{
					/* merge repeats; more distinct rows than it keeps: start the trees */
					uint64		all = PG_UINT64_MAX;

					s->calib_fill = FitCompact(FitCalibSlots(s), s->calib_fill, d, PG_INT32_MAX, &all);
					if (s->calib_fill > s->calibration_size)
						s = trees_start(s, FitCalibSlots(s), s->calib_fill);
				}
				if (s->calib_fill == s->calib_cap || !calib_is_exact(s))
					s->calib_fill = FitCompact(FitCalibSlots(s), s->calib_fill, d,
											   s->calibration_size, &s->calib_limit);
			}
		}
		if (s->contamination > 0.0 ? hc <= s->calib_limit : calib_is_exact(s))
			append_slot(FitCalibSlots(s), &s->calib_fill, FitSlotSize(d), hc, x, d);
	}
	if (!calib_is_exact(s))
		s = trees_add(s, hc, 1, x);
	s->rows_used++;
	return s;
}

/* Do two states come from the same options? */
static bool
same_options(const FitState *a, const FitState *b)
{
	return a->n_trees == b->n_trees && a->sample_size == b->sample_size &&
		a->calibration_size == b->calibration_size && a->max_features == b->max_features &&
		a->contamination == b->contamination && a->seed == b->seed && a->seeded == b->seeded &&
		a->compat == b->compat && a->bootstrap == b->bootstrap && a->max_samples == b->max_samples &&
		a->max_samples_fraction == b->max_samples_fraction &&
		a->max_features_count == b->max_features_count &&
		a->names_len == b->names_len && memcmp(FitNames(a), FitNames(b), a->names_len) == 0;
}

/* Merge one buffer pair into dst: both sides' rows under the smaller limit, cut to keep. */
static int32
merge_buffers(char *dst, const char *a, int32 fa, uint64 la, const char *b, int32 fb, uint64 lb,
			  int32 n_features, int32 keep, uint64 *limit)
{
	Size		slot = FitSlotSize(n_features);
	char	   *scratch = palloc_extended(slot * ((Size) fa + fb) + 1, MCXT_ALLOC_HUGE);
	int32		n;

	memcpy(scratch, a, slot * fa);
	memcpy(scratch + slot * fa, b, slot * fb);
	*limit = Min(la, lb);
	n = FitCompact(scratch, fa + fb, n_features, keep, limit);
	memcpy(dst, scratch, slot * n);
	pfree(scratch);
	return n;
}

/* The state of the union of the rows behind a and b (neither is changed). */
FitState *
FitStateMerge(const FitState *a, const FitState *b)
{
	Size		slot;
	FitState   *s;

	if (!same_options(a, b))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine isoforest.fit states trained with different options"),
				 errhint("Give every row the same options, and a seed when partial states are computed on different nodes.")));
	if (a->compat)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("compat 'sklearn' needs every row in order, so it cannot combine partial states"),
				 errhint("Call isoforest.fit(x, options ORDER BY key); such aggregates are not split among workers.")));
	if (a->n_features == 0 || b->n_features == 0)
	{
		/* one side saw no usable row: take the other, adding the skipped rows */
		const FitState *full = a->n_features == 0 ? b : a;

		s = state_alloc(full, full->tree_cap, full->calib_cap);
		s->rows_skipped = a->rows_skipped + b->rows_skipped;
		return s;
	}
	if (a->n_features != b->n_features)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature vectors have %d and %d elements", a->n_features, b->n_features)));
	slot = FitSlotSize(a->n_features);

	/* the calibration samples: both sides under the smaller limit, cut to calibration_size */
	s = state_alloc(a, 0, Min(2 * a->calibration_size, Max(a->calib_cap + b->calib_cap, 1)));
	for (int32 t = 0; t < s->n_trees; t++)
	{
		FitTreeFill(s)[t] = 0;
		FitTreeLimit(s)[t] = PG_UINT64_MAX;
	}
	if (calib_is_exact(a) && calib_is_exact(b))
	{
		/* every distinct row of both sides: the trees start only if there are too many */
		uint64		all = PG_UINT64_MAX;
		char	   *both = palloc(slot * Max(a->calib_fill + b->calib_fill, 1));
		int32		n;

		memcpy(both, FitCalibSlots(a), slot * a->calib_fill);
		memcpy(both + slot * a->calib_fill, FitCalibSlots(b), slot * b->calib_fill);
		n = FitCompact(both, a->calib_fill + b->calib_fill, a->n_features, PG_INT32_MAX, &all);
		if (n > a->calibration_size)
			s = trees_start(s, both, n);
		pfree(both);
	}
	else
	{
		/* each side's tree samples, or every distinct row of a side that has none */
		s = trees_start(s, NULL, 0);
		for (int32 t = 0; t < s->n_trees; t++)
			FitTreeLimit(s)[t] = Min(calib_is_exact(a) ? PG_UINT64_MAX : FitTreeLimit(a)[t],
									 calib_is_exact(b) ? PG_UINT64_MAX : FitTreeLimit(b)[t]);
		for (int side = 0; side < 2; side++)
		{
			const FitState *src = side == 0 ? a : b;

			if (calib_is_exact(src))
				for (int32 i = 0; i < src->calib_fill; i++)
				{
					const char *e = FitCalibSlots(src) + slot * i;

					s = trees_add(s, SLOT_HASH((char *) e), SLOT_COUNT((char *) e), SLOT_X((char *) e));
				}
			else
				for (int32 t = 0; t < s->n_trees; t++)
					for (int32 i = 0; i < FitTreeFill(src)[t]; i++)
					{
						const char *e = FitTreeSlots(src, t) + slot * i;

						s = tree_insert(s, t, SLOT_HASH((char *) e), SLOT_COUNT((char *) e),
										SLOT_X((char *) e));
					}
		}
	}
	s->calib_fill = merge_buffers(FitCalibSlots(s),
								  FitCalibSlots(a), a->calib_fill, a->calib_limit,
								  FitCalibSlots(b), b->calib_fill, b->calib_limit,
								  s->n_features, s->calibration_size, &s->calib_limit);
	s->rows_used = a->rows_used + b->rows_used;
	s->rows_skipped = a->rows_skipped + b->rows_skipped;
	return s;
}

#define INVALID_STATE(...) \
	ereport(ERROR, (errcode(sqlstate), errmsg("invalid isoforest.fit_state value"), errdetail(__VA_ARGS__)))

/* Check one buffer: counts positive, values finite, hashes under the limit. */
static void
validate_buffer(const char *slots, int32 fill, int32 n_features, uint64 limit, int sqlstate)
{
	Size		slot = FitSlotSize(n_features);

	for (int32 i = 0; i < fill; i++)
	{
		const char *cur = slots + slot * i;

		if (SLOT_COUNT((char *) cur) < 1 || SLOT_HASH((char *) cur) > limit)
			INVALID_STATE("A sample entry has a count below 1 or a hash above its limit.");
		for (int32 f = 0; f < n_features; f++)
			if (!isfinite(SLOT_X((char *) cur)[f]))
				INVALID_STATE("A sample entry holds a value that is not finite.");
	}
}

/* Check the header alone: counts, capacities and options in range. */
static void
validate_shape(const FitState *s, int sqlstate)
{
	if (s->version != FIT_STATE_VERSION || s->flags != 0)
		INVALID_STATE("Unsupported version or reserved flags set.");
	if (s->n_trees < 1 || s->n_trees > ISOFOREST_MAX_TREES ||
		s->sample_size < 2 || s->sample_size > ISOFOREST_MAX_SAMPLE ||
		s->calibration_size < 1 || s->calibration_size > FIT_MAX_CALIBRATION ||
		s->n_features < 0 || s->n_features > ISOFOREST_MAX_FEATURES)
		INVALID_STATE("A count is out of range.");
	if (s->tree_cap < 0 || s->tree_cap > 2 * s->sample_size ||
		s->calib_cap < 0 || s->calib_cap > 2 * s->calibration_size ||
		s->calib_fill < 0 || s->calib_fill > s->calib_cap ||
		(s->n_features == 0 && (s->tree_cap != 0 || s->calib_cap != 0 || s->rows_used != 0)) ||
		(s->n_features > 0 && s->calib_cap < 1) ||
		(s->tree_cap == 0 && s->rows_used > 0 && s->calib_limit != PG_UINT64_MAX) ||
		(s->contamination > 0.0 && s->rows_used > 0 && s->calib_fill < 1) ||
		s->compat < 0 || s->compat > 1 || s->bootstrap < 0 || s->bootstrap > 1 || s->reserved != 0 ||
		(s->compat && s->tree_cap != 0) || s->max_samples < 0 || s->max_features_count < 0 ||
		!(s->max_samples_fraction >= 0.0 && s->max_samples_fraction <= 1.0) ||
		s->names_len < 0 || s->n_names < 0 || s->n_names > ISOFOREST_MAX_FEATURES ||
		s->rows_used < 0 || s->rows_skipped < 0 || s->seeded < 0 || s->seeded > 1 ||
		!(s->max_features > 0.0 && s->max_features <= 1.0) ||
		!(s->contamination >= 0.0 && s->contamination <= 0.5))
		INVALID_STATE("A count or option is out of range.");
}

/* The sum of a buffer's counts, or -1 when it exceeds max (no overflow). */
static int64
buffer_rows(const char *slots, int32 fill, int32 n_features, int64 max)
{
	Size		slot = FitSlotSize(n_features);
	int64		sum = 0;

	for (int32 i = 0; i < fill; i++)
	{
		sum += SLOT_COUNT((char *) slots + slot * i);
		if (sum > max)
			return -1;
	}
	return sum;
}

/*
 * Reject a state whose counts, sizes or entries are inconsistent, including
 * the invariants the final function relies on: a buffer that was never cut
 * holds every row, one that was cut holds at least k distinct rows.
 */
void
FitStateValidate(const FitState *s, Size size, int sqlstate)
{
	const char *names;

	if (size < sizeof(FitState))
		INVALID_STATE("The value is %zu bytes, shorter than a state header.", size);
	validate_shape(s, sqlstate);
	if (FitStateSize(s) != size)
		INVALID_STATE("The value is %zu bytes but its counts describe %zu.", size, FitStateSize(s));
	for (int32 t = 0; t < s->n_trees; t++)
	{
		int32		fill = FitTreeFill(s)[t];

		if (fill < 0 || fill > s->tree_cap)
			INVALID_STATE("Tree %d's buffer count is out of range.", t);
		validate_buffer(FitTreeSlots(s, t), fill, s->n_features, FitTreeLimit(s)[t], sqlstate);
		if (s->tree_cap > 0 &&
			(FitTreeLimit(s)[t] == PG_UINT64_MAX
			 ? buffer_rows(FitTreeSlots(s, t), fill, s->n_features, s->rows_used) != s->rows_used
			 : (fill < s->sample_size ||
				buffer_rows(FitTreeSlots(s, t), fill, s->n_features, s->rows_used) < 0)))
			INVALID_STATE("Tree %d's sample does not agree with the %lld rows used.", t,
						  (long long) s->rows_used);
	}
	validate_buffer(FitCalibSlots(s), s->calib_fill, s->n_features, s->calib_limit, sqlstate);
	if (s->tree_cap == 0 &&
		buffer_rows(FitCalibSlots(s), s->calib_fill, s->n_features, s->rows_used) != s->rows_used)
		INVALID_STATE("The calibration sample does not hold the %lld rows used.", (long long) s->rows_used);
	/* compat keeps each row in its own slot, in order */
	if (s->compat && s->calib_fill != s->rows_used)
		INVALID_STATE("A compat state holds %d slots for %lld rows.", s->calib_fill, (long long) s->rows_used);
	names = FitNames(s);
	if ((s->names_len > 0) != (s->n_names > 0) ||
		(s->names_len > 0 && memchr(names, '\0', s->names_len) != names + s->names_len - 1) ||
		(s->n_names > 0 && s->n_features > 0 && s->n_names != s->n_features))
		INVALID_STATE("The declared features do not match the features.");
}

/* Write every field of a buffer in network byte order. */
static void
send_buffer(StringInfo buf, const char *slots, int32 fill, int32 n_features)
{
	Size		slot = FitSlotSize(n_features);

	for (int32 i = 0; i < fill; i++)
	{
		const char *cur = slots + slot * i;

		pq_sendint64(buf, SLOT_HASH((char *) cur));
		pq_sendint64(buf, SLOT_COUNT((char *) cur));
		for (int32 f = 0; f < n_features; f++)
			pq_sendfloat8(buf, SLOT_X((char *) cur)[f]);
	}
}

/* The portable form of a state: used by send and, base64-encoded, by text output. */
void
FitStateSend(StringInfo buf, const FitState *s)
{
	pq_sendint16(buf, s->version);
	pq_sendint16(buf, s->flags);
	pq_sendint32(buf, s->n_features);
	pq_sendint32(buf, s->n_trees);
	pq_sendint32(buf, s->sample_size);
	pq_sendint32(buf, s->calibration_size);
	pq_sendint32(buf, s->tree_cap);
	pq_sendint32(buf, s->calib_cap);
	pq_sendint32(buf, s->calib_fill);
	pq_sendint32(buf, s->names_len);
	pq_sendint32(buf, s->n_names);
	pq_sendint32(buf, s->seeded);
	pq_sendint32(buf, s->compat);
	pq_sendint32(buf, s->bootstrap);
	pq_sendint32(buf, s->max_features_count);
	pq_sendint32(buf, s->reserved);
	pq_sendfloat8(buf, s->max_features);
	pq_sendfloat8(buf, s->contamination);
	pq_sendfloat8(buf, s->max_samples_fraction);
	pq_sendint64(buf, s->seed);
	pq_sendint64(buf, s->rows_used);
	pq_sendint64(buf, s->rows_skipped);
	pq_sendint64(buf, s->max_samples);
	pq_sendint64(buf, s->calib_limit);
	for (int32 t = 0; t < s->n_trees; t++)
	{
		pq_sendint32(buf, FitTreeFill(s)[t]);
		pq_sendint64(buf, FitTreeLimit(s)[t]);
		send_buffer(buf, FitTreeSlots(s, t), FitTreeFill(s)[t], s->n_features);
	}
	send_buffer(buf, FitCalibSlots(s), s->calib_fill, s->n_features);
	pq_sendbytes(buf, FitNames(s), s->names_len);
}

/* Read a buffer written by send_buffer. */
static void
receive_buffer(StringInfo buf, char *slots, int32 fill, int32 n_features)
{
	Size		slot = FitSlotSize(n_features);

	for (int32 i = 0; i < fill; i++)
	{
		char	   *cur = slots + slot * i;

		SLOT_HASH(cur) = pq_getmsgint64(buf);
		SLOT_COUNT(cur) = pq_getmsgint64(buf);
		for (int32 f = 0; f < n_features; f++)
			SLOT_X(cur)[f] = pq_getmsgfloat8(buf);
	}
}

/* Bytes of the header in the portable form: 2 int16, 10 int32, 2 float8, 4 int64. */
#define FIT_STATE_HEADER_BYTES (2 * 2 + 14 * 4 + 3 * 8 + 5 * 8)

/* Read the portable form of a state, checking it before and after sizing anything. */
FitState *
FitStateReceive(StringInfo buf, int sqlstate)
{
	FitState	h;
	FitState   *s;
	Size		slot;

	memset(&h, 0, sizeof(h));
	if (buf->len - buf->cursor < FIT_STATE_HEADER_BYTES)
		INVALID_STATE("The value is %d bytes, shorter than a state header.", buf->len - buf->cursor);
	h.version = pq_getmsgint(buf, 2);
	h.flags = pq_getmsgint(buf, 2);
	h.n_features = pq_getmsgint(buf, 4);
	h.n_trees = pq_getmsgint(buf, 4);
	h.sample_size = pq_getmsgint(buf, 4);
	h.calibration_size = pq_getmsgint(buf, 4);
	h.tree_cap = pq_getmsgint(buf, 4);
	h.calib_cap = pq_getmsgint(buf, 4);
	h.calib_fill = pq_getmsgint(buf, 4);
	h.names_len = pq_getmsgint(buf, 4);
	h.n_names = pq_getmsgint(buf, 4);
	h.seeded = pq_getmsgint(buf, 4);
	h.compat = pq_getmsgint(buf, 4);
	h.bootstrap = pq_getmsgint(buf, 4);
	h.max_features_count = pq_getmsgint(buf, 4);
	h.reserved = pq_getmsgint(buf, 4);
	h.max_features = pq_getmsgfloat8(buf);
	h.contamination = pq_getmsgfloat8(buf);
	h.max_samples_fraction = pq_getmsgfloat8(buf);
	h.seed = pq_getmsgint64(buf);
	h.rows_used = pq_getmsgint64(buf);
	h.rows_skipped = pq_getmsgint64(buf);
	h.max_samples = pq_getmsgint64(buf);
	h.calib_limit = pq_getmsgint64(buf);

	/*
	 * Check the shape before allocating by it.  Buffers are at least half
	 * full once past their first sizes, so a state much larger than its
	 * message is a forgery, not a state.
	 */
	validate_shape(&h, sqlstate);
	slot = FitSlotSize(h.n_features);
	if (h.names_len > buf->len - buf->cursor ||
		(double) FitStateSize(&h) > 4.0 * buf->len + (double) slot * ((double) h.n_trees * 32 + 512) + 65536.0 ||
		FitStateSize(&h) > MaxAllocSize)
		INVALID_STATE("The capacities do not fit the %d bytes of the value.", buf->len);
	s = palloc0(FitStateSize(&h));
	*s = h;
	SET_VARSIZE(s, FitStateSize(s));
	for (int32 t = 0; t < s->n_trees; t++)
	{
		int32		fill = pq_getmsgint(buf, 4);

		if (fill < 0 || fill > s->tree_cap)
			INVALID_STATE("Tree %d's buffer count is out of range.", t);
		FitTreeFill(s)[t] = fill;
		FitTreeLimit(s)[t] = pq_getmsgint64(buf);
		receive_buffer(buf, FitTreeSlots(s, t), fill, s->n_features);
	}
	if (s->calib_fill < 0 || s->calib_fill > s->calib_cap)
		INVALID_STATE("The calibration count is out of range.");
	receive_buffer(buf, FitCalibSlots(s), s->calib_fill, s->n_features);
	pq_copymsgbytes(buf, FitNames(s), s->names_len);
	if (buf->cursor != buf->len)
		INVALID_STATE("%d bytes follow the last field.", buf->len - buf->cursor);
	FitStateValidate(s, VARSIZE(s), sqlstate);
	return s;
}

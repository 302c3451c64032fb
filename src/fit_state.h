/*
 * fit_state.h
 *		The training aggregate's state: per-tree bottom-k samples and a
 *		calibration sample, in one flat varlena (the type isoforest.fit_state).
 */
#ifndef ISOFOREST_FIT_STATE_H
#define ISOFOREST_FIT_STATE_H

#include "isoforest.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#define FIT_STATE_VERSION 1

/* The largest calibration sample an option may ask for. */
#define FIT_MAX_CALIBRATION 10000000

/* What the user asked for; fixed by the first row's options. */
typedef struct FitOptions
{
	int32		n_trees;
	int32		sample_size;
	int32		calibration_size;
	float8		max_features;
	float8		contamination;	/* 0 = 'auto' */
	int64		seed;
	bool		seeded;
	bool		compat;			/* grow scikit-learn 1.2.1's forest from the rows in order */
	bool		bootstrap;		/* compat: rows drawn with replacement */
	int64		max_samples;	/* compat: max_samples as an integer, or 0 */
	double		max_samples_fraction;	/* compat: max_samples as a fraction, or 0 */
	int32		max_features_count; /* compat: max_features as an integer, or 0 */
	int32		n_declared;		/* features declared by the options; 0 = f1..fN */
	char	   *features_json;	/* their JSON (names, transforms, labels), or NULL */
} FitOptions;

/*
 * The header.  Sections follow at the offsets below:
 *	 int32	tree_fill[n_trees]		entries in each tree's buffer
 *	 uint64 tree_limit[n_trees]		a row enters a tree only if its hash <= this
 *	 slot	trees[n_trees][tree_cap]
 *	 slot	calibration[calib_cap]
 *	 char	features[names_len]		the declared features' JSON, NUL-terminated
 * A slot is {uint64 hash; int64 count; float8 x[n_features]}.
 */
typedef struct FitState
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint16		version;		/* FIT_STATE_VERSION */
	uint16		flags;			/* reserved, always zero */
	int32		n_features;		/* 0 until the first usable row */
	int32		n_trees;
	int32		sample_size;	/* k of each tree's bottom-k sample */
	int32		calibration_size;	/* k of the calibration sample */
	int32		tree_cap;		/* slots per tree buffer (grows to 2 * sample_size) */
	int32		calib_cap;		/* calibration slots (grows to 2 * calibration_size) */
	int32		calib_fill;
	int32		names_len;		/* bytes of the declared features' JSON, 0 if none */
	int32		n_names;		/* how many features it declares */
	int32		seeded;
	int32		compat;			/* 1: every row kept in order in the calibration buffer */
	int32		bootstrap;		/* compat options, as in FitOptions */
	int32		max_features_count;
	int32		reserved;		/* reserved, always zero */
	float8		max_features;
	float8		contamination;
	float8		max_samples_fraction;
	int64		seed;
	int64		rows_used;
	int64		rows_skipped;
	int64		max_samples;
	uint64		calib_limit;
} FitState;

static inline Size
FitSlotSize(int32 n_features)
{
	return sizeof(uint64) * 2 + sizeof(float8) * (Size) n_features;
}

static inline Size
FitFillOffset(void)
{
	return MAXALIGN(sizeof(FitState));
}

static inline Size
FitLimitOffset(const FitState *s)
{
	return MAXALIGN(FitFillOffset() + sizeof(int32) * (Size) s->n_trees);
}

static inline Size
FitTreesOffset(const FitState *s)
{
	return FitLimitOffset(s) + sizeof(uint64) * (Size) s->n_trees;
}

static inline Size
FitCalibOffset(const FitState *s)
{
	return FitTreesOffset(s) + FitSlotSize(s->n_features) * (Size) s->n_trees * s->tree_cap;
}

static inline Size
FitNamesOffset(const FitState *s)
{
	return FitCalibOffset(s) + FitSlotSize(s->n_features) * (Size) s->calib_cap;
}

static inline Size
FitStateSize(const FitState *s)
{
	return FitNamesOffset(s) + s->names_len;
}

static inline int32 *
FitTreeFill(const FitState *s)
{
	return (int32 *) ((char *) s + FitFillOffset());
}

static inline uint64 *
FitTreeLimit(const FitState *s)
{
	return (uint64 *) ((char *) s + FitLimitOffset(s));
}

static inline char *
FitTreeSlots(const FitState *s, int32 t)
{
	return (char *) s + FitTreesOffset(s) + FitSlotSize(s->n_features) * (Size) t * s->tree_cap;
}

static inline char *
FitCalibSlots(const FitState *s)
{
	return (char *) s + FitCalibOffset(s);
}

static inline char *
FitNames(const FitState *s)
{
	return (char *) s + FitNamesOffset(s);
}

/* A slot's fields. */
#define SLOT_HASH(slot)		(*(uint64 *) (slot))
#define SLOT_COUNT(slot)	(*(int64 *) ((slot) + sizeof(uint64)))
#define SLOT_X(slot)		((double *) ((slot) + 2 * sizeof(uint64)))

/* fit_state.c */
extern FitState *FitStateCreate(const FitOptions *options);
extern FitState *FitStateSetFeatures(FitState *s, int32 n_features);
extern FitState *FitStateAddRow(FitState *s, const double *x);
extern FitState *FitStateMerge(const FitState *a, const FitState *b);
extern int32 FitCompact(char *slots, int32 fill, int32 n_features, int32 keep, uint64 *limit);
extern void FitStateValidate(const FitState *s, Size size, int errcode);
extern void FitStateSend(StringInfo buf, const FitState *s);
extern FitState *FitStateReceive(StringInfo buf, int errcode);
extern uint64 FitMix64(uint64 z);

/* fit_options.c */
extern void FitOptionsParse(Jsonb *options, FitOptions *o);

#endif							/* ISOFOREST_FIT_STATE_H */

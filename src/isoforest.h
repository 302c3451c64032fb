/*
 * isoforest.h
 *		The on-disk model, the limits, and the prototypes shared by the
 *		files under src/.
 *
 * A model is one flat varlena: a fixed header followed by sections at
 * MAXALIGNed offsets.  Nothing in it is a pointer; children are node
 * indexes local to their tree, strings are offsets into a string pool.
 * Every path that turns bytes into a model (text input, binary input,
 * the training aggregate, first use in scoring) runs IsoForestValidate.
 */
#ifndef ISOFOREST_H
#define ISOFOREST_H

#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/timestamp.h"

#define ISOFOREST_FORMAT_VERSION	1

/* Limits that bound memory and keep every count inside an int32. */
#define ISOFOREST_MAX_TREES			10000
#define ISOFOREST_MAX_SAMPLE		(1 << 20)
#define ISOFOREST_MAX_FEATURES		4096
#define ISOFOREST_MAX_LABELS		(1 << 20)
#define ISOFOREST_MAX_GROUPS		(1 << 20)
#define ISOFOREST_MAX_ALL_TREES		(1 << 24)

/* Defaults, as in scikit-learn's IsolationForest. */
#define ISOFOREST_DEFAULT_TREES		100
#define ISOFOREST_DEFAULT_SAMPLE	256
#define ISOFOREST_DEFAULT_CALIBRATION 100000

/* The score threshold when contamination is 'auto' (scikit-learn's offset_ = -0.5). */
#define ISOFOREST_AUTO_THRESHOLD	0.5

/* How a feature's raw value is turned into the number the trees split on. */
typedef enum IsoForestTransform
{
	ISOFOREST_TRANSFORM_NONE = 0,
	ISOFOREST_TRANSFORM_LOG1P = 1,
	ISOFOREST_TRANSFORM_LN = 2,
	ISOFOREST_TRANSFORM_SQRT = 3,
	ISOFOREST_TRANSFORM_LABEL = 4
} IsoForestTransform;

#define ISOFOREST_N_TRANSFORMS		5

/* Where the score threshold came from. */
typedef enum IsoForestThresholdSource
{
	ISOFOREST_THRESHOLD_AUTO = 0,	/* contamination 'auto': 0.5 */
	ISOFOREST_THRESHOLD_EXACT = 1,	/* percentile of every training row's score */
	ISOFOREST_THRESHOLD_SAMPLED = 2 /* percentile over a uniform sample of them */
} IsoForestThresholdSource;

/*
 * The model header; sections follow at the offsets given by the accessors.
 * A model holds one forest, or, for peer groups, a global forest followed by
 * one forest per group; every forest has n_trees trees.  The header's psi,
 * threshold, threshold_source and calibration_rows describe the global forest.
 */
typedef struct IsoForestModel
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint16		version;		/* ISOFOREST_FORMAT_VERSION */
	uint16		flags;			/* ISOFOREST_FLAG_*; other bits reserved, zero */
	int32		n_features;		/* length of a feature vector */
	int32		n_trees;		/* trees per forest */
	int32		psi;			/* rows each tree of the global forest was grown on */
	int32		sample_size;	/* requested sample size (psi = min(this, rows)) */
	int32		n_nodes;		/* nodes over all trees of all forests */
	int32		pool_len;		/* bytes in the string pool */
	uint16		threshold_source;	/* IsoForestThresholdSource */
	uint16		seeded;			/* 1 when the user gave the seed */
	int32		n_groups;		/* peer-group forests after the global one; 0 = none */
	int32		n_pooled;		/* groups scored by the global forest (too few rows) */
	int32		group_column;	/* pool offset of the group column's name; -1 when ungrouped */
	int32		min_group_rows; /* groups with fewer rows were pooled */
	uint16		threshold_scope;	/* IsoForestThresholdScope */
	uint16		reserved;		/* reserved, always zero */
	int32		reserved2;		/* reserved, always zero */
	float8		max_features;	/* fraction of features each tree may use */
	float8		contamination;	/* 0 means 'auto' */
	float8		threshold;		/* t: a row is an anomaly when score > t */
	int64		seed;			/* the seed the forest was grown from */
	int64		rows_used;		/* training rows that were used */
	int64		rows_skipped;	/* training rows skipped (NULL, NaN, Infinity) */
	int64		calibration_rows;	/* rows whose scores set the threshold */
	TimestampTz trained_at;		/* when the final function ran */
	uint64		fingerprint;	/* hash of the whole value, this field as zero */
} IsoForestModel;

/* Model flags. */
#define ISOFOREST_FLAG_FLOAT32		0x0001	/* inputs rounded to float32, as scikit-learn does */
#define ISOFOREST_FLAG_BOOTSTRAP	0x0002	/* rows drawn with replacement: root size <= psi */
#define ISOFOREST_FLAGS_KNOWN		0x0003

/* Where a peer-grouped model's thresholds apply. */
typedef enum IsoForestThresholdScope
{
	ISOFOREST_SCOPE_GROUP = 0,	/* each forest flags its contamination of its group */
	ISOFOREST_SCOPE_GLOBAL = 1	/* one threshold over every row's peer score */
} IsoForestThresholdScope;

/* One feature: its name, transform and, for label(), its sorted dictionary. */
typedef struct IsoForestFeature
{
	int32		name;			/* offset of the name in the string pool */
	int32		transform;		/* IsoForestTransform */
	int32		n_labels;		/* label(): number of known values */
	int32		labels;			/* label(): offset of the first value */
} IsoForestFeature;

/* One peer-group forest: its group value and what the header says of the global one. */
typedef struct IsoForestGroup
{
	int32		name;			/* pool offset of the group value (text) */
	int32		psi;
	float8		threshold;
	int64		rows_used;
	int64		calibration_rows;
	int32		threshold_source;
	int32		reserved;		/* reserved, always zero */
} IsoForestGroup;

/* A group too small for a forest of its own, and its training rows. */
typedef struct IsoForestPooled
{
	int32		name;			/* pool offset of the group value */
	int32		reserved;		/* reserved, always zero */
	int64		rows;			/* its rows, or -1 when not known */
} IsoForestPooled;

/*
 * One tree node.  A leaf has feature = left = right = -1 and threshold 0.
 * An inner node sends x to left when x[feature] <= threshold.  size is the
 * number of training rows (of the tree's subsample) that reached the node.
 */
typedef struct IsoForestNode
{
	float8		threshold;
	int32		feature;
	int32		left;			/* index within the tree, or -1 */
	int32		right;			/* index within the tree, or -1 */
	int32		size;
} IsoForestNode;

#define DatumGetIsoForestModelP(d)	((IsoForestModel *) PG_DETOAST_DATUM(d))
#define PG_RETURN_ISOFOREST_MODEL_P(m) PG_RETURN_POINTER(m)

/* Trees over all forests. */
static inline int64
IsoForestTotalTrees(const IsoForestModel *h)
{
	return (int64) h->n_trees * (1 + (int64) h->n_groups);
}

static inline Size
IsoForestFeaturesOffset(void)
{
	return MAXALIGN(sizeof(IsoForestModel));
}

static inline Size
IsoForestGroupsOffset(const IsoForestModel *h)
{
	return MAXALIGN(IsoForestFeaturesOffset() + (Size) h->n_features * sizeof(IsoForestFeature));
}

static inline Size
IsoForestPooledOffset(const IsoForestModel *h)
{
	return IsoForestGroupsOffset(h) + (Size) h->n_groups * sizeof(IsoForestGroup);
}

static inline Size
IsoForestTreeStartOffset(const IsoForestModel *h)
{
	return IsoForestPooledOffset(h) + (Size) h->n_pooled * sizeof(IsoForestPooled);
}

static inline Size
IsoForestNodesOffset(const IsoForestModel *h)
{
	return MAXALIGN(IsoForestTreeStartOffset(h) + ((Size) IsoForestTotalTrees(h) + 1) * sizeof(int32));
}

static inline Size
IsoForestPoolOffset(const IsoForestModel *h)
{
	return IsoForestNodesOffset(h) + (Size) h->n_nodes * sizeof(IsoForestNode);
}

static inline IsoForestFeature *
IsoForestFeatures(const IsoForestModel *m)
{
	return (IsoForestFeature *) ((char *) m + IsoForestFeaturesOffset());
}

static inline IsoForestGroup *
IsoForestGroups(const IsoForestModel *m)
{
	return (IsoForestGroup *) ((char *) m + IsoForestGroupsOffset(m));
}

static inline IsoForestPooled *
IsoForestPooledGroups(const IsoForestModel *m)
{
	return (IsoForestPooled *) ((char *) m + IsoForestPooledOffset(m));
}

/* tree_start[t] is the index of tree t's root; tree_start[total trees] = n_nodes. */
static inline int32 *
IsoForestTreeStart(const IsoForestModel *m)
{
	return (int32 *) ((char *) m + IsoForestTreeStartOffset(m));
}

static inline IsoForestNode *
IsoForestNodes(const IsoForestModel *m)
{
	return (IsoForestNode *) ((char *) m + IsoForestNodesOffset(m));
}

static inline const char *
IsoForestPool(const IsoForestModel *m)
{
	return (const char *) m + IsoForestPoolOffset(m);
}

/* The psi of forest f (0 = global, 1.. = groups). */
static inline int32
IsoForestForestPsi(const IsoForestModel *m, int32 f)
{
	return f == 0 ? m->psi : IsoForestGroups(m)[f - 1].psi;
}

/*
 * Everything needed to assemble a model, in ordinary C arrays.  Training,
 * text input and binary input fill one of these, then IsoForestModelBuild
 * lays it out and IsoForestValidate checks it.
 */
typedef struct IsoForestFeatureSpec
{
	char	   *name;
	int32		transform;
	int32		n_labels;
	char	  **labels;
} IsoForestFeatureSpec;

typedef struct IsoForestGroupSpec
{
	char	   *name;
	int32		psi;
	float8		threshold;
	int64		rows_used;
	int64		calibration_rows;
	int32		threshold_source;
} IsoForestGroupSpec;

typedef struct IsoForestPooledSpec
{
	char	   *name;
	int64		rows;
} IsoForestPooledSpec;

typedef struct IsoForestSpec
{
	IsoForestModel header;		/* scalar fields; sizes are recomputed */
	IsoForestFeatureSpec *features; /* header.n_features of them */
	char	   *group_column;	/* NULL when ungrouped */
	IsoForestGroupSpec *groups; /* header.n_groups of them */
	IsoForestPooledSpec *pooled;	/* header.n_pooled of them */
	int32	   *tree_start;		/* total trees + 1 entries */
	IsoForestNode *nodes;		/* tree_start[total trees] of them */
} IsoForestSpec;

/* model.c */
extern IsoForestModel *IsoForestModelBuild(const IsoForestSpec *spec);
extern void IsoForestValidate(const IsoForestModel *m, Size size, int errcode);
extern uint64 IsoForestFingerprint(const IsoForestModel *m);
extern const char *IsoForestTransformName(int32 transform);
extern int32 IsoForestTransformFromName(const char *name);
extern const char *IsoForestThresholdSourceName(int32 source);
extern int32 IsoForestMaxDepth(const IsoForestModel *m);

/* model_json.c */
extern void IsoForestWriteJson(StringInfo out, const IsoForestModel *m, bool with_trees);
extern IsoForestModel *IsoForestReadJson(const char *text);

#endif							/* ISOFOREST_H */

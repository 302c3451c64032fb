/*
 * forest.h
 *		A model prepared for scoring: flat nodes, children side by side, leaf
 *		path lengths precomputed.
 */
#ifndef ISOFOREST_FOREST_H
#define ISOFOREST_FOREST_H

#include "isoforest.h"

/*
 * A prepared node.  Inner: a row goes to left when x[feature] <= threshold,
 * else to left + 1.  Leaf: threshold +Infinity and left pointing to itself,
 * so a walk that reaches it stays there; that lets every walk take the same
 * number of steps with no branch, and several trees be walked at once.
 */
typedef struct ForestNode
{
	float8		threshold;
	int32		feature;
	int32		left;
} ForestNode;

/*
 * A prepared model: forest 0 is the global forest, forests 1..n_groups the
 * peer groups'.  Forest f's trees are roots[f * n_trees ..].
 */
typedef struct Forest
{
	int32		n_trees;		/* trees per forest */
	int32		n_forests;		/* 1 + peer groups */
	int32		n_features;
	float8	   *denominator;	/* per forest: n_trees * c(psi); 0 when psi is 1 */
	float8	   *threshold;		/* per forest: its t */
	int32	   *depth;			/* per forest: deepest leaf, the steps of every walk */
	char	  **group_names;	/* per forest: its group value (NULL for the global one) */
	int32	   *group_table;	/* open addressing over group values: forest index or 0 */
	uint32		group_mask;		/* group_table has group_mask + 1 slots */
	char	   *group_column;	/* NULL when ungrouped */
	int32	   *roots;			/* index of each tree's root in nodes */
	ForestNode *nodes;
	float8	   *path_length;	/* per leaf: its depth plus c(leaf size) */
	int32	   *transforms;		/* per feature, IsoForestTransform */
	bool		has_labels;		/* some feature is label(): array input cannot feed it */
	bool		float32_inputs; /* round inputs to float32 first (compat 'sklearn') */
	IsoForestFeatureSpec *features; /* names, transforms and label dictionaries */
	MemoryContext cxt;			/* the context holding this forest */
	struct RowFeatureMap *row_map;	/* the last row type mapped to the features */
} Forest;

extern double IsoForestAveragePathLength(double n);
extern Forest *ForestPrepare(const IsoForestModel *m);
extern double ForestScore(const Forest *forest, int32 f, const double *x);
extern int32 ForestFindGroup(const Forest *forest, const char *value);
extern bool ForestPrepareInputs(const Forest *forest, double *x);

#endif							/* ISOFOREST_FOREST_H */

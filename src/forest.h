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

typedef struct Forest
{
	int32		n_trees;
	int32		n_features;
	float8		denominator;	/* n_trees * c(psi); 0 when psi is 1 */
	float8		threshold;		/* the model's t */
	int32		depth;			/* deepest leaf: the number of steps of every walk */
	int32	   *roots;			/* index of each tree's root in nodes */
	ForestNode *nodes;
	float8	   *path_length;	/* per leaf: its depth plus c(leaf size) */
	int32	   *transforms;		/* per feature, IsoForestTransform */
	bool		has_labels;		/* some feature is label(): array input cannot feed it */
	IsoForestFeatureSpec *features; /* names, transforms and label dictionaries */
	MemoryContext cxt;			/* the context holding this forest */
	struct RowFeatureMap *row_map;	/* the last row type mapped to the features */
} Forest;

extern double IsoForestAveragePathLength(double n);
extern Forest *ForestPrepare(const IsoForestModel *m);
extern double ForestScore(const Forest *forest, const double *x);

#endif							/* ISOFOREST_FOREST_H */

/*
 * forest.c
 *		Turning a validated model into its scoring form, and scoring a row.
 *
 * Scoring walks every tree from the root to a leaf and averages the path
 * lengths: s(x) = 2^(-E[h(x)] / c(psi)).  The arithmetic is scikit-learn's
 * (1.2): a leaf at depth d holding n rows contributes (d + 1 + c(n)) - 1,
 * contributions are summed in tree order, and the sum is divided by
 * n_trees * c(psi).  Preparing puts each node's two children next to each
 * other and turns leaves into fixed points, so a walk is a fixed number of
 * compare-and-add steps with no branch, and eight trees are walked at once
 * to overlap their chains of dependent loads.
 */
#include "forest.h"

#include <math.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/float.h"

#define EULER_GAMMA 0.5772156649015329

/* c(n): the average path length of an unsuccessful search in a BST of n keys. */
double
IsoForestAveragePathLength(double n)
{
	if (n <= 1.0)
		return 0.0;
	if (n == 2.0)
		return 1.0;
	return (2.0 * (log(n - 1.0) + EULER_GAMMA)) - ((2.0 * (n - 1.0)) / n);
}

/*
 * Copy one tree breadth-first into out[] (global indexes from base),
 * children adjacent; set each leaf's path length.  Returns the tree's depth.
 */
static int32
prepare_tree(const IsoForestNode *tree, int32 n, int32 base, ForestNode *out, float8 *path_length,
			 int32 *queue, int32 *depth)
{
	int32		head = 0;
	int32		next = 1;
	int32		max_depth = 0;

	/* queue[i] is the source index of prepared node i */
	queue[0] = 0;
	depth[0] = 0;
	while (head < next)
	{
		const IsoForestNode *src = &tree[queue[head]];
		ForestNode *dst = &out[head];

		if (src->feature < 0)
		{
			dst->feature = 0;
			dst->threshold = get_float8_infinity();
			dst->left = base + head;
			path_length[head] = ((double) (depth[head] + 1) + IsoForestAveragePathLength(src->size)) - 1.0;
			max_depth = Max(max_depth, depth[head]);
		}
		else
		{
			dst->feature = src->feature;
			dst->threshold = src->threshold;
			dst->left = base + next;
			path_length[head] = 0.0;
			queue[next] = src->left;
			queue[next + 1] = src->right;
			depth[next] = depth[next + 1] = depth[head] + 1;
			next += 2;
		}
		head++;
	}
	Assert(next == n);
	return max_depth;
}

/* Build the group value -> forest index table (0 = not a peer group: the global forest). */
static void
prepare_groups(Forest *forest, const IsoForestModel *m)
{
	const char *pool = IsoForestPool(m);
	uint32		size = 2;

	forest->group_names = palloc0(sizeof(char *) * forest->n_forests);
	forest->group_column = m->group_column >= 0 ? pstrdup(pool + m->group_column) : NULL;
	while (size < 2 * (uint32) forest->n_forests)
		size <<= 1;
	forest->group_mask = size - 1;
	forest->group_table = palloc0(sizeof(int32) * size);
	for (int32 f = 1; f < forest->n_forests; f++)
	{
		const char *name = pool + IsoForestGroups(m)[f - 1].name;
		uint32		i = hash_bytes((const unsigned char *) name, strlen(name)) & forest->group_mask;

		forest->group_names[f] = pstrdup(name);
		while (forest->group_table[i] != 0)
			i = (i + 1) & forest->group_mask;
		forest->group_table[i] = f;
	}
}

/* The forest for a group value: its peer group's, or 0 (the global forest) if it has none. */
int32
ForestFindGroup(const Forest *forest, const char *value)
{
	uint32		i;

	if (value == NULL || forest->n_forests == 1)
		return 0;
	i = hash_bytes((const unsigned char *) value, strlen(value)) & forest->group_mask;
	while (forest->group_table[i] != 0)
	{
		if (strcmp(forest->group_names[forest->group_table[i]], value) == 0)
			return forest->group_table[i];
		i = (i + 1) & forest->group_mask;
	}
	return 0;
}

/* The scoring form of a validated model, allocated in the current context. */
Forest *
ForestPrepare(const IsoForestModel *m)
{
	const int32 *start = IsoForestTreeStart(m);
	const IsoForestFeature *features = IsoForestFeatures(m);
	Forest	   *forest = palloc0(sizeof(Forest));
	int32		total = (int32) IsoForestTotalTrees(m);
	int32		max_nodes = 1;
	int32	   *queue;
	int32	   *depth;

	for (int32 t = 0; t < total; t++)
		max_nodes = Max(max_nodes, start[t + 1] - start[t]);
	queue = palloc(sizeof(int32) * max_nodes);
	depth = palloc(sizeof(int32) * max_nodes);

	forest->n_trees = m->n_trees;
	forest->float32_inputs = (m->flags & ISOFOREST_FLAG_FLOAT32) != 0;
	forest->n_forests = 1 + m->n_groups;
	forest->n_features = m->n_features;
	forest->denominator = palloc(sizeof(float8) * forest->n_forests);
	forest->threshold = palloc(sizeof(float8) * forest->n_forests);
	forest->depth = palloc0(sizeof(int32) * forest->n_forests);
	for (int32 f = 0; f < forest->n_forests; f++)
	{
		forest->threshold[f] = f == 0 ? m->threshold : IsoForestGroups(m)[f - 1].threshold;
		forest->denominator[f] = (double) m->n_trees * IsoForestAveragePathLength(IsoForestForestPsi(m, f));
	}
	prepare_groups(forest, m);
	forest->roots = palloc(sizeof(int32) * total);
	forest->nodes = palloc(sizeof(ForestNode) * (Size) m->n_nodes);
	forest->path_length = palloc(sizeof(float8) * (Size) m->n_nodes);
	forest->transforms = palloc(sizeof(int32) * m->n_features);
	forest->features = palloc0(sizeof(IsoForestFeatureSpec) * m->n_features);
	forest->cxt = CurrentMemoryContext;
	for (int f = 0; f < m->n_features; f++)
	{
		const char *label = IsoForestPool(m) + features[f].labels;
		IsoForestFeatureSpec *spec = &forest->features[f];

		forest->transforms[f] = features[f].transform;
		if (features[f].transform == ISOFOREST_TRANSFORM_LABEL)
			forest->has_labels = true;
		/* copies: the model may be freed once it is prepared */
		spec->name = pstrdup(IsoForestPool(m) + features[f].name);
		spec->transform = features[f].transform;
		spec->n_labels = features[f].n_labels;
		spec->labels = palloc(sizeof(char *) * (spec->n_labels + 1));
		for (int32 i = 0; i < spec->n_labels; i++)
		{
			spec->labels[i] = pstrdup(label);
			label += strlen(label) + 1;
		}
	}
	for (int32 t = 0; t < total; t++)
	{
		int32		f = t / m->n_trees;
		int32		d;

		if ((t & 255) == 0)
			CHECK_FOR_INTERRUPTS();
		forest->roots[t] = start[t];
		d = prepare_tree(IsoForestNodes(m) + start[t], start[t + 1] - start[t], start[t],
						 forest->nodes + start[t], forest->path_length + start[t], queue, depth);
		forest->depth[f] = Max(forest->depth[f], d);
	}
	pfree(queue);
	pfree(depth);
	return forest;
}

/*
 * Walk WALK_WIDTH trees at a time: their loads are independent, so they
 * overlap.  Measured on 300k rows x 100 trees: widths 4, 8, 16, 20, 32 gave
 * 600, 405, 315, 285, 340 ms; 20 also divides the default 100 trees.
 */
#define WALK_WIDTH 20

/* The anomaly score s(x) in (0, 1] of one row of finite, transformed values, by forest f. */
double
ForestScore(const Forest *forest, int32 f, const double *x)
{
	const ForestNode *nodes = forest->nodes;
	const int32 *roots = forest->roots + (Size) f * forest->n_trees;
	int32		steps = forest->depth[f];
	double		depth_sum = 0.0;
	int32		t = 0;

	for (; t + WALK_WIDTH <= forest->n_trees; t += WALK_WIDTH)
	{
		int32		at[WALK_WIDTH];

		for (int k = 0; k < WALK_WIDTH; k++)
			at[k] = roots[t + k];
		for (int32 step = 0; step < steps; step++)
			for (int k = 0; k < WALK_WIDTH; k++)
			{
				const ForestNode *node = &nodes[at[k]];

				at[k] = node->left + (x[node->feature] > node->threshold);
			}
		/* summed in tree order, as scikit-learn does, for the same last bit */
		for (int k = 0; k < WALK_WIDTH; k++)
			depth_sum += forest->path_length[at[k]];
	}
	for (; t < forest->n_trees; t++)
	{
		int32		at = roots[t];

		for (int32 step = 0; step < steps; step++)
			at = nodes[at].left + (x[nodes[at].feature] > nodes[at].threshold);
		depth_sum += forest->path_length[at];
	}
	/* psi = 1 gives c(psi) = 0: every row is equally (un)isolated */
	return pow(2.0, -(forest->denominator[f] != 0.0 ? depth_sum / forest->denominator[f] : 1.0));
}

/*
 * Round a row's (transformed) values to float32 when the model was trained
 * that way, as scikit-learn casts X; false when a value overflows float32.
 */
bool
ForestPrepareInputs(const Forest *forest, double *x)
{
	if (!forest->float32_inputs)
		return true;
	for (int32 f = 0; f < forest->n_features; f++)
	{
		x[f] = (double) (float) x[f];
		if (!isfinite(x[f]))
			return false;
	}
	return true;
}

/*
 * model.c
 *		Laying out a model from its parts, and the one validator that every
 *		decode path runs.
 *
 * The validator is what lets the scoring code trust a model: after it,
 * every child index points forward inside its own tree, every node but the
 * root has exactly one parent (so there is no cycle and no sharing), every
 * split names a real feature and a finite threshold, and sizes add up.
 */
#include "isoforest.h"

#include <math.h>

#include "common/hashfn.h"
#include "datatype/timestamp.h"
#include "miscadmin.h"
#include "utils/memutils.h"

static const char *const transform_names[ISOFOREST_N_TRANSFORMS] = {
	"none", "log1p", "ln", "sqrt", "label"
};

static const char *const threshold_source_names[] = {"auto", "exact", "sampled"};

/* The name of a transform, as written in feature text and JSON. */
const char *
IsoForestTransformName(int32 transform)
{
	if (transform < 0 || transform >= ISOFOREST_N_TRANSFORMS)
		return "?";
	return transform_names[transform];
}

/* The transform with this name, or -1. */
int32
IsoForestTransformFromName(const char *name)
{
	for (int i = 0; i < ISOFOREST_N_TRANSFORMS; i++)
		if (strcmp(name, transform_names[i]) == 0)
			return i;
	return -1;
}

/* The name of a threshold source, as shown by info(). */
const char *
IsoForestThresholdSourceName(int32 source)
{
	if (source < 0 || source > ISOFOREST_THRESHOLD_SAMPLED)
		return "?";
	return threshold_source_names[source];
}

/* Bytes a string list takes in the pool, with terminators. */
static Size
strings_size(char **strings, int n)
{
	Size		len = 0;

	for (int i = 0; i < n; i++)
		len += strlen(strings[i]) + 1;
	return len;
}

/* Copy a string into the pool at *pos; return its offset. */
static int32
pool_put(char *pool, Size *pos, const char *str)
{
	int32		off = (int32) *pos;

	strcpy(pool + *pos, str);
	*pos += strlen(str) + 1;
	return off;
}

/* Lay a spec out as one varlena, with its fingerprint set. */
IsoForestModel *
IsoForestModelBuild(const IsoForestSpec *spec)
{
	const IsoForestModel *h = &spec->header;
	int32		n_features = h->n_features;
	int64		total_trees = IsoForestTotalTrees(h);
	Size		pool_len = 0;
	Size		total;
	IsoForestModel shape = *h;
	IsoForestModel *m;
	IsoForestFeature *features;
	char	   *pool;
	Size		pos = 0;

	for (int f = 0; f < n_features; f++)
	{
		pool_len += strlen(spec->features[f].name) + 1;
		pool_len += strings_size(spec->features[f].labels, spec->features[f].n_labels);
	}
	if (spec->group_column != NULL)
		pool_len += strlen(spec->group_column) + 1;
	for (int32 g = 0; g < h->n_groups; g++)
		pool_len += strlen(spec->groups[g].name) + 1;
	for (int32 g = 0; g < h->n_pooled; g++)
		pool_len += strlen(spec->pooled[g].name) + 1;
	shape.n_nodes = spec->tree_start[total_trees];
	total = IsoForestPoolOffset(&shape) + pool_len;
	if (total > MaxAllocSize || pool_len > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("isoforest model would take %zu bytes, more than the limit of %zu",
						total, (Size) MaxAllocSize),
				 errhint("Use fewer trees, a smaller sample_size or fewer peer groups.")));

	m = palloc0(total);
	*m = shape;
	SET_VARSIZE(m, total);
	m->version = ISOFOREST_FORMAT_VERSION;
	m->pool_len = (int32) pool_len;
	m->fingerprint = 0;

	features = IsoForestFeatures(m);
	pool = (char *) IsoForestPool(m);
	for (int f = 0; f < n_features; f++)
	{
		const IsoForestFeatureSpec *fs = &spec->features[f];

		features[f].name = pool_put(pool, &pos, fs->name);
		features[f].transform = fs->transform;
		features[f].n_labels = fs->n_labels;
		features[f].labels = (int32) pos;
		for (int i = 0; i < fs->n_labels; i++)
			(void) pool_put(pool, &pos, fs->labels[i]);
	}
	m->group_column = spec->group_column ? pool_put(pool, &pos, spec->group_column) : -1;
	for (int32 g = 0; g < h->n_groups; g++)
	{
		IsoForestGroup *grp = &IsoForestGroups(m)[g];
		const IsoForestGroupSpec *gs = &spec->groups[g];

		grp->name = pool_put(pool, &pos, gs->name);
		grp->psi = gs->psi;
		grp->threshold = gs->threshold;
		grp->rows_used = gs->rows_used;
		grp->calibration_rows = gs->calibration_rows;
		grp->threshold_source = gs->threshold_source;
	}
	for (int32 g = 0; g < h->n_pooled; g++)
	{
		IsoForestPooledGroups(m)[g].name = pool_put(pool, &pos, spec->pooled[g].name);
		IsoForestPooledGroups(m)[g].rows = spec->pooled[g].rows;
	}
	memcpy(IsoForestTreeStart(m), spec->tree_start, ((Size) total_trees + 1) * sizeof(int32));
	if (m->n_nodes > 0)
		memcpy(IsoForestNodes(m), spec->nodes, (Size) m->n_nodes * sizeof(IsoForestNode));
	m->fingerprint = IsoForestFingerprint(m);
	return m;
}

/* A hash of the whole value, computed as if the fingerprint field were zero. */
uint64
IsoForestFingerprint(const IsoForestModel *m)
{
	Size		head = offsetof(IsoForestModel, fingerprint);
	Size		tail = head + sizeof(uint64);
	uint64		h;

	h = hash_bytes_extended((const unsigned char *) m + VARHDRSZ, (int) (head - VARHDRSZ), 0x1f0e5);
	return hash_bytes_extended((const unsigned char *) m + tail, (int) (VARSIZE(m) - tail), h);
}

/* 0001-01-01 and 10000-01-01 00:00 UTC, in microseconds since 2000-01-01 */
#define ISOFOREST_MIN_TRAINED_AT INT64CONST(-63082281600000000)
#define ISOFOREST_MAX_TRAINED_AT INT64CONST(252455616000000000)

#define INVALID_MODEL(...) \
	ereport(ERROR, (errcode(sqlstate), errmsg("invalid isoforest model"), errdetail(__VA_ARGS__)))

/* Check that a pool string starting at off ends inside the pool; return its end. */
static Size
check_pool_string(const IsoForestModel *m, Size off, int sqlstate, int feature)
{
	const char *pool = IsoForestPool(m);
	const char *end;

	if (off >= (Size) m->pool_len)
		INVALID_MODEL("String %d lies outside the string pool.", feature + 1);
	end = memchr(pool + off, '\0', m->pool_len - off);
	if (end == NULL)
		INVALID_MODEL("String %d is not terminated.", feature + 1);
	return (end - pool) + 1;
}

/* Check the peer-group sections: names, order, sizes and thresholds. */
static void
validate_groups(const IsoForestModel *m, int sqlstate)
{
	const char *pool = IsoForestPool(m);
	const IsoForestGroup *groups = IsoForestGroups(m);
	const IsoForestPooled *pooled = IsoForestPooledGroups(m);

	if (m->group_column >= 0)
	{
		Size		end = check_pool_string(m, m->group_column, sqlstate, -1);

		if (pool[m->group_column] == '\0' || end - m->group_column > NAMEDATALEN)
			INVALID_MODEL("The group column's name is empty or longer than %d bytes.", NAMEDATALEN - 1);
	}
	for (int32 g = 0; g < m->n_groups; g++)
	{
		const IsoForestGroup *grp = &groups[g];

		if (grp->name < 0)
			INVALID_MODEL("Peer group %d has a negative string offset.", g + 1);
		(void) check_pool_string(m, grp->name, sqlstate, g);
		/* sorted in byte order: a forest per value, found by the same comparison */
		if (g > 0 && strcmp(pool + groups[g - 1].name, pool + grp->name) >= 0)
			INVALID_MODEL("Peer groups are out of order or repeated at \"%s\".", pool + grp->name);
		if (grp->psi < 1 || grp->psi > m->sample_size || grp->rows_used < grp->psi ||
			grp->calibration_rows < 0 || grp->reserved != 0)
			INVALID_MODEL("Peer group \"%s\" has inconsistent sizes.", pool + grp->name);
		if (!(grp->threshold >= 0.0 && grp->threshold <= 1.0))
			INVALID_MODEL("Peer group \"%s\" has a threshold outside [0, 1].", pool + grp->name);
		if (grp->threshold_source < 0 || grp->threshold_source > ISOFOREST_THRESHOLD_SAMPLED ||
			(grp->threshold_source == ISOFOREST_THRESHOLD_AUTO) != (m->contamination == 0.0))
			INVALID_MODEL("Peer group \"%s\" has a threshold source that does not match the contamination.",
						  pool + grp->name);
	}
	for (int32 g = 0; g < m->n_pooled; g++)
	{
		if (pooled[g].name < 0 || pooled[g].reserved != 0 || pooled[g].rows < -1)
			INVALID_MODEL("Pooled group %d is inconsistent.", g + 1);
		(void) check_pool_string(m, pooled[g].name, sqlstate, g);
	}
}

/* Check the header counts, the total size and the feature table. */
static void
validate_header(const IsoForestModel *m, Size size, int sqlstate)
{
	const IsoForestFeature *features;
	const char *pool;

	if (size < sizeof(IsoForestModel))
		INVALID_MODEL("The value is %zu bytes, shorter than a model header.", size);
	if (m->version != ISOFOREST_FORMAT_VERSION)
		INVALID_MODEL("Format version %d is not supported (this build reads version %d).",
					  m->version, ISOFOREST_FORMAT_VERSION);
	if ((m->flags & ~ISOFOREST_FLAGS_KNOWN) != 0)
		INVALID_MODEL("Reserved flags are set.");
	if (m->n_features < 1 || m->n_features > ISOFOREST_MAX_FEATURES)
		INVALID_MODEL("n_features is %d; it must be between 1 and %d.",
					  m->n_features, ISOFOREST_MAX_FEATURES);
	if (m->n_trees < 1 || m->n_trees > ISOFOREST_MAX_TREES)
		INVALID_MODEL("n_trees is %d; it must be between 1 and %d.",
					  m->n_trees, ISOFOREST_MAX_TREES);
	if (m->sample_size < 1 || m->sample_size > ISOFOREST_MAX_SAMPLE)
		INVALID_MODEL("sample_size is %d; it must be between 1 and %d.",
					  m->sample_size, ISOFOREST_MAX_SAMPLE);
	if (m->psi < 1 || m->psi > m->sample_size)
		INVALID_MODEL("psi is %d; it must be between 1 and sample_size (%d).",
					  m->psi, m->sample_size);
	if (m->n_groups < 0 || m->n_groups > ISOFOREST_MAX_GROUPS ||
		m->n_pooled < 0 || m->n_pooled > ISOFOREST_MAX_GROUPS ||
		IsoForestTotalTrees(m) > ISOFOREST_MAX_ALL_TREES)
		INVALID_MODEL("%d peer groups and %d pooled groups are more than a model holds.",
					  m->n_groups, m->n_pooled);
	if (m->reserved != 0 || m->reserved2 != 0 || m->threshold_scope > ISOFOREST_SCOPE_GLOBAL ||
		(m->group_column < 0 && (m->n_groups != 0 || m->n_pooled != 0 || m->threshold_scope != 0)) ||
		m->group_column < -1 || m->min_group_rows < 0)
		INVALID_MODEL("Peer-group fields are inconsistent.");
	if ((int64) m->n_nodes < IsoForestTotalTrees(m) || (Size) m->n_nodes > MaxAllocSize / sizeof(IsoForestNode))
		INVALID_MODEL("n_nodes is %d, which does not fit %lld trees.", m->n_nodes,
					  (long long) IsoForestTotalTrees(m));
	if (m->pool_len < 0)
		INVALID_MODEL("The string pool length is negative.");
	if (IsoForestPoolOffset(m) + m->pool_len != size)
		INVALID_MODEL("The value is %zu bytes but its counts describe %zu bytes.",
					  size, IsoForestPoolOffset(m) + m->pool_len);
	if (!(m->max_features > 0.0 && m->max_features <= 1.0))
		INVALID_MODEL("max_features must be in (0, 1].");
	if (!(m->contamination == 0.0 || (m->contamination > 0.0 && m->contamination <= 0.5)))
		INVALID_MODEL("contamination must be 'auto' or in (0, 0.5].");
	if (!(m->threshold >= 0.0 && m->threshold <= 1.0))
		INVALID_MODEL("The threshold must be a number in [0, 1].");
	if (m->threshold_source > ISOFOREST_THRESHOLD_SAMPLED ||
		(m->threshold_source == ISOFOREST_THRESHOLD_AUTO) != (m->contamination == 0.0))
		INVALID_MODEL("The threshold source does not match the contamination.");
	if (m->seeded > 1)
		INVALID_MODEL("seeded must be 0 or 1.");
	if (m->rows_used < m->psi || m->rows_skipped < 0 || m->calibration_rows < 0)
		INVALID_MODEL("Row counts are negative or smaller than psi.");
	/* unknown, or a time its text form (ISO 8601, year 1 to 9999) can carry */
	if (m->trained_at != DT_NOBEGIN &&
		!(m->trained_at >= ISOFOREST_MIN_TRAINED_AT && m->trained_at < ISOFOREST_MAX_TRAINED_AT))
		INVALID_MODEL("trained_at is outside the years 1 to 9999.");

	features = IsoForestFeatures(m);
	pool = IsoForestPool(m);
	for (int f = 0; f < m->n_features; f++)
	{
		const IsoForestFeature *ft = &features[f];
		Size		off;
		Size		prev = 0;

		if (ft->transform < 0 || ft->transform >= ISOFOREST_N_TRANSFORMS)
			INVALID_MODEL("Feature %d has unknown transform %d.", f + 1, ft->transform);
		if (ft->n_labels < 0 || ft->n_labels > ISOFOREST_MAX_LABELS ||
			(ft->n_labels > 0 && ft->transform != ISOFOREST_TRANSFORM_LABEL))
			INVALID_MODEL("Feature %d has %d labels but transform %s.",
						  f + 1, ft->n_labels, IsoForestTransformName(ft->transform));
		if (ft->name < 0 || ft->labels < 0)
			INVALID_MODEL("Feature %d has a negative string offset.", f + 1);
		off = check_pool_string(m, ft->name, sqlstate, f);
		if (pool[ft->name] == '\0' || off - ft->name > NAMEDATALEN)
			INVALID_MODEL("Feature %d has an empty name or one longer than %d bytes.", f + 1, NAMEDATALEN - 1);
		for (int g = 0; g < f; g++)
			if (strcmp(pool + features[g].name, pool + ft->name) == 0 &&
				features[g].transform == ft->transform)
				INVALID_MODEL("Feature \"%s\" appears twice with the same transform.", pool + ft->name);
		off = ft->labels;
		for (int i = 0; i < ft->n_labels; i++)
		{
			Size		next = check_pool_string(m, off, sqlstate, f);

			/* label() codes are positions in byte order, so the list must be sorted */
			if (i > 0 && strcmp(pool + prev, pool + off) >= 0)
				INVALID_MODEL("Feature %d has labels out of order or repeated.", f + 1);
			prev = off;
			off = next;
		}
	}
	validate_groups(m, sqlstate);
}

/* Check one tree: forward children, single parents, consistent sizes. */
static void
validate_tree(const IsoForestModel *m, int t, int32 psi, int32 *parents, int32 *depth, int sqlstate)
{
	const int32 *start = IsoForestTreeStart(m);
	const IsoForestNode *nodes = IsoForestNodes(m) + start[t];
	int32		n = start[t + 1] - start[t];
	int32		max_depth = 0;

	/* a tree grown on psi rows is at most ceil(log2 psi) deep, here and in scikit-learn */
	while (((int64) 1 << max_depth) < Max(psi, 2))
		max_depth++;

	if (n < 1 || n > 2 * psi - 1)
		INVALID_MODEL("Tree %d has %d nodes; a tree grown on %d rows has between 1 and %d.",
					  t, n, psi, 2 * psi - 1);
	memset(parents, 0, sizeof(int32) * n);
	for (int32 i = 0; i < n; i++)
	{
		const IsoForestNode *node = &nodes[i];

		if (node->size < 1)
			INVALID_MODEL("Tree %d node %d has size %d; sizes must be positive.", t, i, node->size);
		if (i == 0)
			depth[0] = 0;
		if (node->feature == -1)
		{
			if (node->left != -1 || node->right != -1)
				INVALID_MODEL("Tree %d node %d is a leaf with children.", t, i);
			if (node->threshold != 0.0 || signbit(node->threshold))
				INVALID_MODEL("Tree %d node %d is a leaf with a threshold.", t, i);
			continue;
		}
		if (node->feature < 0 || node->feature >= m->n_features)
			INVALID_MODEL("Tree %d node %d splits on feature %d; the model has %d features.",
						  t, i, node->feature, m->n_features);
		if (!isfinite(node->threshold) || (node->threshold == 0.0 && signbit(node->threshold)))
			INVALID_MODEL("Tree %d node %d has a threshold that is not a finite number (or is -0).", t, i);
		if (node->left < 0 || node->left >= n || node->right < 0 || node->right >= n)
			INVALID_MODEL("Tree %d node %d has a child index out of range (left %d, right %d, %d nodes).",
						  t, i, node->left, node->right, n);
		if (node->left <= i || node->right <= i || node->left == node->right)
			INVALID_MODEL("Tree %d node %d has children %d and %d; children must follow their parent (no cycles).",
						  t, i, node->left, node->right);
		parents[node->left]++;
		parents[node->right]++;
		/* children follow their parent, so the parent's depth is known here */
		depth[node->left] = depth[node->right] = depth[i] + 1;
		if (depth[i] + 1 > max_depth)
			INVALID_MODEL("Tree %d is deeper than %d, the most a tree grown on %d rows can be.",
						  t, max_depth, psi);
		if ((int64) nodes[node->left].size + nodes[node->right].size != node->size)
			INVALID_MODEL("Tree %d node %d has size %d but its children hold %d and %d.",
						  t, i, node->size, nodes[node->left].size, nodes[node->right].size);
	}
	for (int32 i = 0; i < n; i++)
		if (parents[i] != (i == 0 ? 0 : 1))
			INVALID_MODEL("Tree %d node %d has %d parents; every node but the root has one.",
						  t, i, parents[i]);
	/* with bootstrap, repeated draws of a row count once in a node */
	if ((m->flags & ISOFOREST_FLAG_BOOTSTRAP) ? nodes[0].size > psi : nodes[0].size != psi)
		INVALID_MODEL("Tree %d holds %d rows at its root but psi is %d.", t, nodes[0].size, psi);
}

/*
 * Reject any value that is not a well-formed, internally consistent model.
 * sqlstate is the class the caller reports (bad text, bad binary, corrupt).
 */
void
IsoForestValidate(const IsoForestModel *m, Size size, int sqlstate)
{
	const int32 *start;
	int32	   *parents;
	int32	   *depth;
	int32		total;
	int32		max_psi = 1;

	validate_header(m, size, sqlstate);
	start = IsoForestTreeStart(m);
	total = (int32) IsoForestTotalTrees(m);
	if (start[0] != 0 || start[total] != m->n_nodes)
		INVALID_MODEL("Tree offsets do not cover the %d nodes.", m->n_nodes);
	for (int32 t = 0; t < total; t++)
	{
		int32		psi = IsoForestForestPsi(m, t / m->n_trees);

		if (start[t + 1] <= start[t] || start[t + 1] - start[t] > 2 * psi - 1)
			INVALID_MODEL("Tree %d has %d nodes; a tree grown on %d rows has between 1 and %d.",
						  t, start[t + 1] - start[t], psi, 2 * psi - 1);
		max_psi = Max(max_psi, psi);
	}
	parents = palloc(sizeof(int32) * (2 * (Size) max_psi));
	depth = palloc0(sizeof(int32) * (2 * (Size) max_psi));
	for (int32 t = 0; t < total; t++)
	{
		CHECK_FOR_INTERRUPTS();
		validate_tree(m, t, IsoForestForestPsi(m, t / m->n_trees), parents, depth, sqlstate);
	}
	pfree(parents);
	pfree(depth);
}

/* The depth of the deepest leaf over all trees (the root has depth 0). */
int32
IsoForestMaxDepth(const IsoForestModel *m)
{
	const int32 *start = IsoForestTreeStart(m);
	const IsoForestNode *all = IsoForestNodes(m);
	int32		total = (int32) IsoForestTotalTrees(m);
	int32		max_tree = 1;
	int32	   *depth;
	int32		max_depth = 0;

	for (int32 t = 0; t < total; t++)
		max_tree = Max(max_tree, start[t + 1] - start[t]);
	depth = palloc(sizeof(int32) * max_tree);
	for (int32 t = 0; t < total; t++)
	{
		const IsoForestNode *nodes = all + start[t];

		/* children follow their parent, so one forward pass sees parents first */
		depth[0] = 0;
		for (int32 i = 0; i < start[t + 1] - start[t]; i++)
		{
			if (nodes[i].feature >= 0)
				depth[nodes[i].left] = depth[nodes[i].right] = depth[i] + 1;
			max_depth = Max(max_depth, depth[i]);
		}
	}
	pfree(depth);
	return max_depth;
}

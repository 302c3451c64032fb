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

/* Lay a spec out as one varlena, with its fingerprint set. */
IsoForestModel *
IsoForestModelBuild(const IsoForestSpec *spec)
{
	const IsoForestModel *h = &spec->header;
	int32		n_features = h->n_features;
	int32		n_trees = h->n_trees;
	int32		n_nodes = spec->tree_start[n_trees];
	Size		pool_len = 0;
	Size		pool_off;
	Size		total;
	IsoForestModel *m;
	IsoForestFeature *features;
	char	   *pool;
	Size		pos = 0;

	for (int f = 0; f < n_features; f++)
	{
		pool_len += strlen(spec->features[f].name) + 1;
		pool_len += strings_size(spec->features[f].labels, spec->features[f].n_labels);
	}
	pool_off = IsoForestPoolOffset(n_features, n_trees, n_nodes);
	total = pool_off + pool_len;
	if (total > MaxAllocSize || pool_len > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("isoforest model would take %zu bytes, more than the limit of %zu",
						total, (Size) MaxAllocSize),
				 errhint("Use fewer trees or a smaller sample_size.")));

	m = palloc0(total);
	*m = *h;
	SET_VARSIZE(m, total);
	m->version = ISOFOREST_FORMAT_VERSION;
	m->n_nodes = n_nodes;
	m->pool_len = (int32) pool_len;
	m->fingerprint = 0;

	features = IsoForestFeatures(m);
	pool = (char *) IsoForestPool(m);
	for (int f = 0; f < n_features; f++)
	{
		const IsoForestFeatureSpec *fs = &spec->features[f];

		features[f].name = (int32) pos;
		strcpy(pool + pos, fs->name);
		pos += strlen(fs->name) + 1;
		features[f].transform = fs->transform;
		features[f].n_labels = fs->n_labels;
		features[f].labels = (int32) pos;
		for (int i = 0; i < fs->n_labels; i++)
		{
			strcpy(pool + pos, fs->labels[i]);
			pos += strlen(fs->labels[i]) + 1;
		}
	}
	memcpy(IsoForestTreeStart(m), spec->tree_start, ((Size) n_trees + 1) * sizeof(int32));
	if (n_nodes > 0)
		memcpy(IsoForestNodes(m), spec->nodes, (Size) n_nodes * sizeof(IsoForestNode));
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
		INVALID_MODEL("Feature %d has a string outside the string pool.", feature + 1);
	end = memchr(pool + off, '\0', m->pool_len - off);
	if (end == NULL)
		INVALID_MODEL("Feature %d has an unterminated string.", feature + 1);
	return (end - pool) + 1;
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
	if (m->flags != 0 || m->reserved != 0)
		INVALID_MODEL("Reserved fields are not zero.");
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
	if (m->n_nodes < m->n_trees || (Size) m->n_nodes > MaxAllocSize / sizeof(IsoForestNode))
		INVALID_MODEL("n_nodes is %d, which does not fit %d trees.", m->n_nodes, m->n_trees);
	if (m->pool_len < 0)
		INVALID_MODEL("The string pool length is negative.");
	if (IsoForestPoolOffset(m->n_features, m->n_trees, m->n_nodes) + m->pool_len != size)
		INVALID_MODEL("The value is %zu bytes but its counts describe %zu bytes.",
					  size, IsoForestPoolOffset(m->n_features, m->n_trees, m->n_nodes) + m->pool_len);
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
}

/* Check one tree: forward children, single parents, consistent sizes. */
static void
validate_tree(const IsoForestModel *m, int t, int32 *parents, int32 *depth, int sqlstate)
{
	const int32 *start = IsoForestTreeStart(m);
	const IsoForestNode *nodes = IsoForestNodes(m) + start[t];
	int32		n = start[t + 1] - start[t];
	int32		max_depth = 0;

	/* a tree grown on psi rows is at most ceil(log2 psi) deep, here and in scikit-learn */
	while (((int64) 1 << max_depth) < Max(m->psi, 2))
		max_depth++;

	if (n < 1 || n > 2 * m->psi - 1)
		INVALID_MODEL("Tree %d has %d nodes; a tree grown on %d rows has between 1 and %d.",
					  t, n, m->psi, 2 * m->psi - 1);
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
						  t, max_depth, m->psi);
		if ((int64) nodes[node->left].size + nodes[node->right].size != node->size)
			INVALID_MODEL("Tree %d node %d has size %d but its children hold %d and %d.",
						  t, i, node->size, nodes[node->left].size, nodes[node->right].size);
	}
	for (int32 i = 0; i < n; i++)
		if (parents[i] != (i == 0 ? 0 : 1))
			INVALID_MODEL("Tree %d node %d has %d parents; every node but the root has one.",
						  t, i, parents[i]);
	if (nodes[0].size != m->psi)
		INVALID_MODEL("Tree %d holds %d rows at its root but psi is %d.", t, nodes[0].size, m->psi);
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

	validate_header(m, size, sqlstate);
	start = IsoForestTreeStart(m);
	if (start[0] != 0 || start[m->n_trees] != m->n_nodes)
		INVALID_MODEL("Tree offsets do not cover the %d nodes.", m->n_nodes);
	for (int t = 0; t < m->n_trees; t++)
		if (start[t + 1] <= start[t] || start[t + 1] - start[t] > 2 * m->psi - 1)
			INVALID_MODEL("Tree %d has %d nodes; a tree grown on %d rows has between 1 and %d.",
						  t, start[t + 1] - start[t], m->psi, 2 * m->psi - 1);
	parents = palloc(sizeof(int32) * (2 * (Size) m->psi));
	depth = palloc0(sizeof(int32) * (2 * (Size) m->psi));
	for (int t = 0; t < m->n_trees; t++)
	{
		CHECK_FOR_INTERRUPTS();
		validate_tree(m, t, parents, depth, sqlstate);
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
	int32	   *depth = palloc(sizeof(int32) * (2 * (Size) m->psi));
	int32		max_depth = 0;

	for (int t = 0; t < m->n_trees; t++)
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

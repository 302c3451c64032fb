/*
 * model_io.c
 *		The SQL-facing I/O of isoforest.model: text in/out (JSON), binary
 *		send/recv (field by field, network byte order) and info().
 *
 * Both input paths end in IsoForestValidate, so no byte sequence a client
 * can send yields a model that the scoring code cannot trust.
 */
#include "isoforest.h"

#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(isoforest_model_in);
PG_FUNCTION_INFO_V1(isoforest_model_out);
PG_FUNCTION_INFO_V1(isoforest_model_recv);
PG_FUNCTION_INFO_V1(isoforest_model_send);
PG_FUNCTION_INFO_V1(isoforest_info);

/* Text input: JSON, parsed, laid out and validated. */
Datum
isoforest_model_in(PG_FUNCTION_ARGS)
{
	IsoForestModel *m = IsoForestReadJson(PG_GETARG_CSTRING(0));

	IsoForestValidate(m, VARSIZE(m), ERRCODE_INVALID_TEXT_REPRESENTATION);
	PG_RETURN_ISOFOREST_MODEL_P(m);
}

/* Text output: canonical JSON. */
Datum
isoforest_model_out(PG_FUNCTION_ARGS)
{
	IsoForestModel *m = DatumGetIsoForestModelP(PG_GETARG_DATUM(0));
	StringInfoData out;

	initStringInfo(&out);
	IsoForestWriteJson(&out, m, true);
	PG_RETURN_CSTRING(out.data);
}

/* Binary output: the version first, then every field in network byte order. */
Datum
isoforest_model_send(PG_FUNCTION_ARGS)
{
	IsoForestModel *m = DatumGetIsoForestModelP(PG_GETARG_DATUM(0));
	const IsoForestFeature *features = IsoForestFeatures(m);
	const int32 *start = IsoForestTreeStart(m);
	const IsoForestNode *nodes = IsoForestNodes(m);
	const char *pool = IsoForestPool(m);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, m->version);
	pq_sendint16(&buf, m->flags);
	pq_sendint32(&buf, m->n_features);
	pq_sendint32(&buf, m->n_trees);
	pq_sendint32(&buf, m->psi);
	pq_sendint32(&buf, m->sample_size);
	pq_sendint32(&buf, m->n_nodes);
	pq_sendint16(&buf, m->threshold_source);
	pq_sendint16(&buf, m->seeded);
	pq_sendfloat8(&buf, m->max_features);
	pq_sendfloat8(&buf, m->contamination);
	pq_sendfloat8(&buf, m->threshold);
	pq_sendint64(&buf, m->seed);
	pq_sendint64(&buf, m->rows_used);
	pq_sendint64(&buf, m->rows_skipped);
	pq_sendint64(&buf, m->calibration_rows);
	pq_sendint64(&buf, m->trained_at);
	pq_sendint32(&buf, m->n_groups);
	pq_sendint32(&buf, m->n_pooled);
	pq_sendint32(&buf, m->min_group_rows);
	pq_sendint16(&buf, m->threshold_scope);
	pq_sendbyte(&buf, m->group_column >= 0);
	if (m->group_column >= 0)
		pq_sendstring(&buf, pool + m->group_column);
	for (int f = 0; f < m->n_features; f++)
	{
		const char *label = pool + features[f].labels;

		pq_sendstring(&buf, pool + features[f].name);
		pq_sendint32(&buf, features[f].transform);
		pq_sendint32(&buf, features[f].n_labels);
		for (int i = 0; i < features[f].n_labels; i++)
		{
			pq_sendstring(&buf, label);
			label += strlen(label) + 1;
		}
	}
	for (int32 g = 0; g < m->n_groups; g++)
	{
		const IsoForestGroup *grp = &IsoForestGroups(m)[g];

		pq_sendstring(&buf, pool + grp->name);
		pq_sendint32(&buf, grp->psi);
		pq_sendfloat8(&buf, grp->threshold);
		pq_sendint64(&buf, grp->rows_used);
		pq_sendint64(&buf, grp->calibration_rows);
		pq_sendint32(&buf, grp->threshold_source);
	}
	for (int32 g = 0; g < m->n_pooled; g++)
	{
		pq_sendstring(&buf, pool + IsoForestPooledGroups(m)[g].name);
		pq_sendint64(&buf, IsoForestPooledGroups(m)[g].rows);
	}
	for (int64 t = 0; t <= IsoForestTotalTrees(m); t++)
		pq_sendint32(&buf, start[t]);
	for (int32 i = 0; i < m->n_nodes; i++)
	{
		pq_sendint32(&buf, nodes[i].feature);
		pq_sendint32(&buf, nodes[i].left);
		pq_sendint32(&buf, nodes[i].right);
		pq_sendint32(&buf, nodes[i].size);
		pq_sendfloat8(&buf, nodes[i].threshold);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

#define BAD_BINARY(...) \
	ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION), \
					errmsg("invalid external isoforest.model value"), errdetail(__VA_ARGS__)))

/* An int32 count read from the message, checked before anything is sized by it. */
static int32
get_count(StringInfo buf, const char *what, int32 min, int32 max)
{
	int32		n = pq_getmsgint(buf, 4);

	if (n < min || n > max)
		BAD_BINARY("%s is %d; it must be between %d and %d.", what, n, min, max);
	return n;
}

/* Binary input: read every field, then lay out and validate. */
Datum
isoforest_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	IsoForestSpec spec;
	IsoForestModel *h = &spec.header;
	IsoForestModel *m;
	int32		n_nodes;
	int64		total;
	int			remaining;

	memset(&spec, 0, sizeof(spec));
	h->version = pq_getmsgint(buf, 2);
	if (h->version != ISOFOREST_FORMAT_VERSION)
		BAD_BINARY("Format version %d is not supported (this build reads version %d).",
				   h->version, ISOFOREST_FORMAT_VERSION);
	h->flags = pq_getmsgint(buf, 2);
	h->n_features = get_count(buf, "n_features", 1, ISOFOREST_MAX_FEATURES);
	h->n_trees = get_count(buf, "n_trees", 1, ISOFOREST_MAX_TREES);
	h->psi = get_count(buf, "psi", 1, ISOFOREST_MAX_SAMPLE);
	h->sample_size = get_count(buf, "sample_size", 1, ISOFOREST_MAX_SAMPLE);
	/* every node takes 24 bytes of message, so the message bounds the count */
	n_nodes = get_count(buf, "n_nodes", 1, (buf->len - buf->cursor) / 24);
	h->threshold_source = pq_getmsgint(buf, 2);
	h->seeded = pq_getmsgint(buf, 2);
	h->max_features = pq_getmsgfloat8(buf);
	h->contamination = pq_getmsgfloat8(buf);
	h->threshold = pq_getmsgfloat8(buf);
	h->seed = pq_getmsgint64(buf);
	h->rows_used = pq_getmsgint64(buf);
	h->rows_skipped = pq_getmsgint64(buf);
	h->calibration_rows = pq_getmsgint64(buf);
	h->trained_at = pq_getmsgint64(buf);
	remaining = buf->len - buf->cursor;
	h->n_groups = get_count(buf, "n_groups", 0, Min(ISOFOREST_MAX_GROUPS, remaining / 33));
	h->n_pooled = get_count(buf, "n_pooled", 0, Min(ISOFOREST_MAX_GROUPS, remaining / 9));
	h->min_group_rows = get_count(buf, "min_group_rows", 0, PG_INT32_MAX);
	h->threshold_scope = pq_getmsgint(buf, 2);
	if (IsoForestTotalTrees(h) > ISOFOREST_MAX_ALL_TREES)
		BAD_BINARY("%lld trees are more than a model holds.", (long long) IsoForestTotalTrees(h));
	if (pq_getmsgbyte(buf))
		spec.group_column = pstrdup(pq_getmsgstring(buf));

	spec.features = palloc0(sizeof(IsoForestFeatureSpec) * h->n_features);
	for (int f = 0; f < h->n_features; f++)
	{
		IsoForestFeatureSpec *fs = &spec.features[f];

		fs->name = pstrdup(pq_getmsgstring(buf));
		fs->transform = pq_getmsgint(buf, 4);
		remaining = buf->len - buf->cursor;
		fs->n_labels = get_count(buf, "n_labels", 0, Min(ISOFOREST_MAX_LABELS, remaining));
		fs->labels = palloc(sizeof(char *) * (fs->n_labels + 1));
		for (int i = 0; i < fs->n_labels; i++)
			fs->labels[i] = pstrdup(pq_getmsgstring(buf));
	}
	spec.groups = palloc0(sizeof(IsoForestGroupSpec) * Max(h->n_groups, 1));
	for (int32 g = 0; g < h->n_groups; g++)
	{
		IsoForestGroupSpec *gs = &spec.groups[g];

		gs->name = pstrdup(pq_getmsgstring(buf));
		gs->psi = pq_getmsgint(buf, 4);
		gs->threshold = pq_getmsgfloat8(buf);
		gs->rows_used = pq_getmsgint64(buf);
		gs->calibration_rows = pq_getmsgint64(buf);
		gs->threshold_source = pq_getmsgint(buf, 4);
	}
	spec.pooled = palloc0(sizeof(IsoForestPooledSpec) * Max(h->n_pooled, 1));
	for (int32 g = 0; g < h->n_pooled; g++)
	{
		spec.pooled[g].name = pstrdup(pq_getmsgstring(buf));
		spec.pooled[g].rows = pq_getmsgint64(buf);
	}
	total = IsoForestTotalTrees(h);
	if ((buf->len - buf->cursor) / 4 < total + 1)
		BAD_BINARY("The message holds fewer than %lld tree offsets.", (long long) total + 1);
	spec.tree_start = palloc(sizeof(int32) * ((Size) total + 1));
	for (int64 t = 0; t <= total; t++)
		spec.tree_start[t] = pq_getmsgint(buf, 4);
	if (spec.tree_start[total] != n_nodes)
		BAD_BINARY("The tree offsets end at %d but n_nodes is %d.", spec.tree_start[total], n_nodes);
	if ((buf->len - buf->cursor) / 24 < n_nodes)
		BAD_BINARY("The message holds fewer than %d nodes.", n_nodes);
	spec.nodes = palloc(sizeof(IsoForestNode) * (Size) n_nodes);
	for (int32 i = 0; i < n_nodes; i++)
	{
		spec.nodes[i].feature = pq_getmsgint(buf, 4);
		spec.nodes[i].left = pq_getmsgint(buf, 4);
		spec.nodes[i].right = pq_getmsgint(buf, 4);
		spec.nodes[i].size = pq_getmsgint(buf, 4);
		spec.nodes[i].threshold = pq_getmsgfloat8(buf);
	}
	if (buf->cursor != buf->len)
		BAD_BINARY("%d bytes follow the last node.", buf->len - buf->cursor);

	/* tree offsets are checked by the validator; Build only needs them in range */
	for (int64 t = 0; t < total; t++)
		if (spec.tree_start[t] < 0 || spec.tree_start[t] > n_nodes)
			BAD_BINARY("Tree %lld starts at node %d, outside the %d nodes.", (long long) t, spec.tree_start[t], n_nodes);
	m = IsoForestModelBuild(&spec);
	IsoForestValidate(m, VARSIZE(m), ERRCODE_INVALID_BINARY_REPRESENTATION);
	PG_RETURN_ISOFOREST_MODEL_P(m);
}

/* Everything about a model but its trees, as jsonb. */
Datum
isoforest_info(PG_FUNCTION_ARGS)
{
	IsoForestModel *m = DatumGetIsoForestModelP(PG_GETARG_DATUM(0));
	StringInfoData out;

	initStringInfo(&out);
	IsoForestWriteJson(&out, m, false);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}

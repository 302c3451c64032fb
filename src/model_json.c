/*
 * model_json.c
 *		The model's text form: JSON written canonically and read back exactly.
 *
 * Output is canonical (fixed key order, shortest round-trip floats that do
 * not depend on extra_float_digits, UTC timestamps), so that
 * m::text::isoforest.model::text = m::text.  Input is parsed by the jsonb
 * parser and then checked key by key; numbers go through numeric's exact
 * decimal text, so every double comes back with the same bits.
 */
#include "isoforest.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "feature_spec.h"
#include "json_value.h"

/* Append a double in its shortest exact decimal form. */
static void
append_double(StringInfo out, double x)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(x, buf);
	appendStringInfoString(out, buf);
}

/* Append a timestamp as ISO 8601 in UTC, or null when unknown. */
static void
append_timestamp(StringInfo out, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
	{
		appendStringInfoString(out, "null");
		return;
	}
	appendStringInfo(out, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday,
					 tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/* Append one of a tree's node columns as a JSON array. */
static void
append_node_column(StringInfo out, const char *key, const IsoForestNode *nodes, int32 n, int column)
{
	appendStringInfo(out, "\"%s\":[", key);
	for (int32 i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(out, ',');
		switch (column)
		{
			case 0:
				appendStringInfo(out, "%d", nodes[i].feature);
				break;
			case 1:
				append_double(out, nodes[i].threshold);
				break;
			case 2:
				appendStringInfo(out, "%d", nodes[i].left);
				break;
			case 3:
				appendStringInfo(out, "%d", nodes[i].right);
				break;
			default:
				appendStringInfo(out, "%d", nodes[i].size);
				break;
		}
	}
	appendStringInfoChar(out, ']');
}

/* Append ,"trees":[...] for the n_trees trees from tree first. */
static void
append_trees(StringInfo out, const IsoForestModel *m, int32 first)
{
	const int32 *start = IsoForestTreeStart(m);

	appendStringInfoString(out, ",\"trees\":[");
	for (int32 t = first; t < first + m->n_trees; t++)
	{
		const IsoForestNode *nodes = IsoForestNodes(m) + start[t];
		int32		n = start[t + 1] - start[t];

		appendStringInfoString(out, t > first ? ",{" : "{");
		append_node_column(out, "feature", nodes, n, 0);
		appendStringInfoChar(out, ',');
		append_node_column(out, "threshold", nodes, n, 1);
		appendStringInfoChar(out, ',');
		append_node_column(out, "left", nodes, n, 2);
		appendStringInfoChar(out, ',');
		append_node_column(out, "right", nodes, n, 3);
		appendStringInfoChar(out, ',');
		append_node_column(out, "size", nodes, n, 4);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoChar(out, ']');
}

/*
 * Write a model as JSON.  Without trees (for info()), add the derived
 * facts n_nodes, max_depth and size_bytes instead.
 */
void
IsoForestWriteJson(StringInfo out, const IsoForestModel *m, bool with_trees)
{
	appendStringInfo(out, "{\"format\":%d,\"n_features\":%d,\"features\":",
					 m->version, m->n_features);
	FeatureSpecWrite(out, FeatureSpecFromModel(m), m->n_features);
	appendStringInfo(out, ",\"n_trees\":%d,\"sample_size\":%d,\"psi\":%d,\"max_features\":",
					 m->n_trees, m->sample_size, m->psi);
	append_double(out, m->max_features);
	appendStringInfoString(out, ",\"contamination\":");
	if (m->contamination == 0.0)
		appendStringInfoString(out, "\"auto\"");
	else
		append_double(out, m->contamination);
	appendStringInfo(out, ",\"seed\":" INT64_FORMAT ",\"seeded\":%s,\"threshold\":",
					 m->seed, m->seeded ? "true" : "false");
	append_double(out, m->threshold);
	appendStringInfo(out, ",\"threshold_source\":\"%s\",\"calibration_rows\":" INT64_FORMAT
					 ",\"rows_used\":" INT64_FORMAT ",\"rows_skipped\":" INT64_FORMAT
					 ",\"trained_at\":",
					 IsoForestThresholdSourceName(m->threshold_source), m->calibration_rows,
					 m->rows_used, m->rows_skipped);
	append_timestamp(out, m->trained_at);
	if (m->flags & ISOFOREST_FLAG_FLOAT32)
		appendStringInfoString(out, ",\"compat\":\"sklearn\"");
	if (m->flags & ISOFOREST_FLAG_BOOTSTRAP)
		appendStringInfoString(out, ",\"bootstrap\":true");

	if (m->group_column >= 0)
	{
		const char *pool = IsoForestPool(m);

		appendStringInfoString(out, ",\"group_column\":");
		escape_json(out, pool + m->group_column);
		appendStringInfo(out, ",\"threshold_scope\":\"%s\",\"min_group_rows\":%d,\"pooled\":[",
						 m->threshold_scope == ISOFOREST_SCOPE_GLOBAL ? "global" : "group",
						 m->min_group_rows);
		for (int32 g = 0; g < m->n_pooled; g++)
		{
			appendStringInfoString(out, g > 0 ? ",{\"group\":" : "{\"group\":");
			escape_json(out, pool + IsoForestPooledGroups(m)[g].name);
			appendStringInfo(out, ",\"rows\":" INT64_FORMAT "}", IsoForestPooledGroups(m)[g].rows);
		}
		appendStringInfoString(out, "],\"groups\":[");
		for (int32 g = 0; g < m->n_groups; g++)
		{
			const IsoForestGroup *grp = &IsoForestGroups(m)[g];

			appendStringInfoString(out, g > 0 ? ",{\"group\":" : "{\"group\":");
			escape_json(out, pool + grp->name);
			appendStringInfo(out, ",\"psi\":%d,\"threshold\":", grp->psi);
			append_double(out, grp->threshold);
			appendStringInfo(out, ",\"threshold_source\":\"%s\",\"calibration_rows\":" INT64_FORMAT
							 ",\"rows_used\":" INT64_FORMAT,
							 IsoForestThresholdSourceName(grp->threshold_source),
							 grp->calibration_rows, grp->rows_used);
			if (with_trees)
				append_trees(out, m, (g + 1) * m->n_trees);
			appendStringInfoChar(out, '}');
		}
		appendStringInfoChar(out, ']');
	}

	if (!with_trees)
	{
		appendStringInfo(out, ",\"n_groups\":%d,\"n_nodes\":%d,\"max_depth\":%d,\"size_bytes\":%zu}",
						 m->n_groups, m->n_nodes, IsoForestMaxDepth(m), (Size) VARSIZE(m));
		return;
	}
	append_trees(out, m, 0);
	appendStringInfoChar(out, '}');
}

/* ---------------------------------------------------------------- input */

#define BAD_TEXT(...) \
	ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION), \
					errmsg("invalid input syntax for type isoforest.model"), \
					errdetail(__VA_ARGS__)))

static const JsonReader reader = {
	ERRCODE_INVALID_TEXT_REPRESENTATION, "invalid input syntax for type isoforest.model"
};

#define get_int(v, what, min, max) JsonReadInt(&reader, v, what, min, max)
#define get_double(v, what) JsonReadDouble(&reader, v, what)
#define get_string(v, what) JsonReadString(&reader, v, what)
#define get_array(v, what, len) JsonReadArray(&reader, v, what, len)
#define get_object(v, what) JsonReadObject(&reader, v, what)

/* Element i of an array container (bounds already checked). */
static JsonbValue *
array_element(JsonbContainer *c, int32 i)
{
	return getIthJsonbValueFromContainer(c, (uint32) i);
}

/* Read one node column of a tree into nodes[0..n-1]. */
static void
read_node_column(JsonbContainer *tree, const char *key, IsoForestNode *nodes, int32 n, int column)
{
	JsonbValue *v = getKeyJsonValueFromContainer(tree, key, strlen(key), NULL);
	JsonbContainer *arr;
	int32		len;

	if (v == NULL)
		BAD_TEXT("A tree has no \"%s\" array.", key);
	arr = get_array(v, key, &len);
	if (len != n)
		BAD_TEXT("A tree's \"%s\" has %d entries but its \"feature\" has %d.", key, len, n);
	for (int32 i = 0; i < n; i++)
	{
		JsonbValue *e = array_element(arr, i);

		switch (column)
		{
			case 0:
				nodes[i].feature = (int32) get_int(e, key, -1, PG_INT32_MAX);
				break;
			case 1:
				nodes[i].threshold = get_double(e, key);
				break;
			case 2:
				nodes[i].left = (int32) get_int(e, key, -1, PG_INT32_MAX);
				break;
			case 3:
				nodes[i].right = (int32) get_int(e, key, -1, PG_INT32_MAX);
				break;
			default:
				nodes[i].size = (int32) get_int(e, key, PG_INT32_MIN, PG_INT32_MAX);
				break;
		}
	}
}

/* Where read_trees appends: node storage and the next tree's index. */
typedef struct TreeReader
{
	Size		cap;			/* nodes allocated */
	int32		n_nodes;		/* nodes read */
	int32		next_tree;		/* trees read */
} TreeReader;

/* Read a "trees" array of n_trees trees grown on psi rows, appending to spec. */
static void
read_trees(const JsonbValue *v, IsoForestSpec *spec, int32 psi, TreeReader *tr)
{
	int32		n_trees;
	JsonbContainer *arr = get_array(v, "trees", &n_trees);
	int32		max_nodes = 2 * psi - 1;

	if (n_trees != spec->header.n_trees)
		BAD_TEXT("\"trees\" has %d entries but \"n_trees\" is %d.", n_trees, spec->header.n_trees);
	for (int32 t = 0; t < n_trees; t++)
	{
		JsonbContainer *tree = get_object(array_element(arr, t), "trees[]");
		JsonbValue *feature = getKeyJsonValueFromContainer(tree, "feature", 7, NULL);
		int32		n;
		int32		at = tr->n_nodes;

		if (JsonContainerSize(tree) != 5)
			BAD_TEXT("Tree %d must have exactly the keys feature, threshold, left, right and size.", t);
		if (feature == NULL)
			BAD_TEXT("Tree %d has no \"feature\" array.", t);
		(void) get_array(feature, "feature", &n);
		if (n < 1 || n > max_nodes)
			BAD_TEXT("Tree %d has %d nodes; a tree grown on %d rows has between 1 and %d.",
					 t, n, psi, max_nodes);
		if ((Size) at + n > MaxAllocSize / sizeof(IsoForestNode))
			BAD_TEXT("The trees have too many nodes.");
		if ((Size) at + n > tr->cap)
		{
			tr->cap = Min(Max(tr->cap * 2, (Size) at + n), MaxAllocSize / sizeof(IsoForestNode));
			spec->nodes = spec->nodes ? repalloc(spec->nodes, tr->cap * sizeof(IsoForestNode))
				: palloc(tr->cap * sizeof(IsoForestNode));
		}
		spec->tree_start[tr->next_tree++] = at;
		read_node_column(tree, "feature", spec->nodes + at, n, 0);
		read_node_column(tree, "threshold", spec->nodes + at, n, 1);
		read_node_column(tree, "left", spec->nodes + at, n, 2);
		read_node_column(tree, "right", spec->nodes + at, n, 3);
		read_node_column(tree, "size", spec->nodes + at, n, 4);
		for (int32 i = at; i < at + n; i++)
			if (spec->nodes[i].feature == -1)
				spec->nodes[i].threshold = 0.0; /* leaves carry no threshold */
		tr->n_nodes += n;
	}
}

/* Read "pooled": [{"group": ..., "rows": ...}]. */
static void
read_pooled(const JsonbValue *v, IsoForestSpec *spec)
{
	int32		n;
	JsonbContainer *arr = get_array(v, "pooled", &n);

	if (n > ISOFOREST_MAX_GROUPS)
		BAD_TEXT("\"pooled\" has more than %d groups.", ISOFOREST_MAX_GROUPS);
	spec->header.n_pooled = n;
	spec->pooled = palloc0(sizeof(IsoForestPooledSpec) * Max(n, 1));
	for (int32 g = 0; g < n; g++)
	{
		JsonbContainer *obj = get_object(array_element(arr, g), "pooled[]");
		JsonbValue *name = getKeyJsonValueFromContainer(obj, "group", 5, NULL);
		JsonbValue *rows = getKeyJsonValueFromContainer(obj, "rows", 4, NULL);

		if (name == NULL || rows == NULL || JsonContainerSize(obj) != 2)
			BAD_TEXT("A pooled group needs exactly the keys group and rows.");
		spec->pooled[g].name = get_string(name, "group");
		spec->pooled[g].rows = get_int(rows, "rows", -1, PG_INT64_MAX);
	}
}

/* Read "groups": the peer-group forests, with their trees, after the global forest's. */
static void
read_groups(const JsonbValue *v, IsoForestSpec *spec, TreeReader *tr)
{
	int32		n;
	JsonbContainer *arr = get_array(v, "groups", &n);

	if (n != spec->header.n_groups)
		BAD_TEXT("\"groups\" has %d entries, not %d.", n, spec->header.n_groups);
	for (int32 g = 0; g < n; g++)
	{
		JsonbContainer *obj = get_object(array_element(arr, g), "groups[]");
		IsoForestGroupSpec *gs = &spec->groups[g];
		static const char *const keys[] = {"group", "psi", "threshold", "threshold_source",
		"calibration_rows", "rows_used", "trees"};
		JsonbValue *vals[7];
		char	   *source;

		if (JsonContainerSize(obj) != 7)
			BAD_TEXT("Peer group %d must have exactly the keys group, psi, threshold, threshold_source, calibration_rows, rows_used and trees.", g + 1);
		for (int k = 0; k < 7; k++)
		{
			vals[k] = getKeyJsonValueFromContainer(obj, keys[k], strlen(keys[k]), NULL);
			if (vals[k] == NULL)
				BAD_TEXT("Peer group %d has no \"%s\".", g + 1, keys[k]);
		}
		gs->name = get_string(vals[0], "group");
		gs->psi = (int32) get_int(vals[1], "psi", 1, ISOFOREST_MAX_SAMPLE);
		gs->threshold = get_double(vals[2], "threshold");
		source = get_string(vals[3], "threshold_source");
		for (gs->threshold_source = 0; gs->threshold_source <= ISOFOREST_THRESHOLD_SAMPLED; gs->threshold_source++)
			if (strcmp(source, IsoForestThresholdSourceName(gs->threshold_source)) == 0)
				break;
		if (gs->threshold_source > ISOFOREST_THRESHOLD_SAMPLED)
			BAD_TEXT("Unknown threshold source \"%s\".", source);
		gs->calibration_rows = get_int(vals[4], "calibration_rows", 0, PG_INT64_MAX);
		gs->rows_used = get_int(vals[5], "rows_used", 1, PG_INT64_MAX);
		if (gs->psi > spec->header.sample_size)
			BAD_TEXT("Peer group %d has psi %d, more than sample_size.", g + 1, gs->psi);
		read_trees(vals[6], spec, gs->psi, tr);
	}
}

/* Parse the JSON text of a model; the caller validates the result. */
IsoForestModel *
IsoForestReadJson(const char *text)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	IsoForestSpec spec;
	IsoForestModel *h = &spec.header;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken r;
	JsonbValue	trees = {0};
	JsonbValue	groups = {0};
	bool		have_groups = false;
	TreeReader	tr = {0};
	bool		have_format = false,
				have_features = false,
				have_threshold = false,
				have_psi = false,
				have_trees = false,
				have_source = false;
	int64		n_features = -1;

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		BAD_TEXT("A model is a JSON object.");
	memset(&spec, 0, sizeof(spec));
	h->n_trees = -1;
	h->sample_size = -1;
	h->max_features = 1.0;
	h->rows_used = -1;
	h->trained_at = DT_NOBEGIN;

	it = JsonbIteratorInit(&jb->root);
	r = JsonbIteratorNext(&it, &v, true);
	Assert(r == WJB_BEGIN_OBJECT);
	while ((r = JsonbIteratorNext(&it, &v, true)) == WJB_KEY)
	{
		char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

		r = JsonbIteratorNext(&it, &v, true);
		Assert(r == WJB_VALUE);
		if (strcmp(key, "format") == 0)
		{
			int64		format = get_int(&v, key, 0, PG_INT32_MAX);

			if (format != ISOFOREST_FORMAT_VERSION)
				BAD_TEXT("Format version " INT64_FORMAT " is not supported (this build reads version %d).",
						 format, ISOFOREST_FORMAT_VERSION);
			have_format = true;
		}
		else if (strcmp(key, "n_features") == 0)
			n_features = get_int(&v, key, 1, ISOFOREST_MAX_FEATURES);
		else if (strcmp(key, "features") == 0)
		{
			spec.features = FeatureSpecRead(&reader, &v, &h->n_features);
			have_features = true;
		}
		else if (strcmp(key, "n_trees") == 0)
			h->n_trees = (int32) get_int(&v, key, 1, ISOFOREST_MAX_TREES);
		else if (strcmp(key, "sample_size") == 0)
			h->sample_size = (int32) get_int(&v, key, 1, ISOFOREST_MAX_SAMPLE);
		else if (strcmp(key, "psi") == 0)
		{
			h->psi = (int32) get_int(&v, key, 1, ISOFOREST_MAX_SAMPLE);
			have_psi = true;
		}
		else if (strcmp(key, "max_features") == 0)
			h->max_features = get_double(&v, key);
		else if (strcmp(key, "contamination") == 0)
		{
			bool		is_auto = v.type == jbvNull ||
				(v.type == jbvString && v.val.string.len == 4 &&
				 memcmp(v.val.string.val, "auto", 4) == 0);

			h->contamination = is_auto ? 0.0 : get_double(&v, key);
			if (!is_auto && h->contamination == 0.0)
				BAD_TEXT("\"contamination\" must be \"auto\" or in (0, 0.5].");
		}
		else if (strcmp(key, "seed") == 0)
		{
			if (v.type != jbvNull)
				h->seed = get_int(&v, key, PG_INT64_MIN, PG_INT64_MAX);
		}
		else if (strcmp(key, "seeded") == 0)
		{
			if (v.type != jbvBool)
				BAD_TEXT("\"seeded\" must be true or false.");
			h->seeded = v.val.boolean ? 1 : 0;
		}
		else if (strcmp(key, "threshold") == 0)
		{
			h->threshold = get_double(&v, key);
			have_threshold = true;
		}
		else if (strcmp(key, "threshold_source") == 0)
		{
			char	   *s = get_string(&v, key);

			for (h->threshold_source = 0; h->threshold_source <= ISOFOREST_THRESHOLD_SAMPLED;
				 h->threshold_source++)
				if (strcmp(s, IsoForestThresholdSourceName(h->threshold_source)) == 0)
					break;
			if (h->threshold_source > ISOFOREST_THRESHOLD_SAMPLED)
				BAD_TEXT("Unknown threshold source \"%s\".", s);
			have_source = true;
		}
		else if (strcmp(key, "calibration_rows") == 0)
			h->calibration_rows = get_int(&v, key, 0, PG_INT64_MAX);
		else if (strcmp(key, "rows_used") == 0)
			h->rows_used = get_int(&v, key, 1, PG_INT64_MAX);
		else if (strcmp(key, "rows_skipped") == 0)
			h->rows_skipped = get_int(&v, key, 0, PG_INT64_MAX);
		else if (strcmp(key, "trained_at") == 0)
		{
			if (v.type != jbvNull)
				h->trained_at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
																		CStringGetDatum(get_string(&v, key)),
																		ObjectIdGetDatum(InvalidOid),
																		Int32GetDatum(-1)));
		}
		else if (strcmp(key, "trees") == 0)
		{
			trees = v;
			have_trees = true;
		}
		else if (strcmp(key, "compat") == 0)
		{
			if (strcmp(get_string(&v, key), "sklearn") != 0)
				BAD_TEXT("\"compat\" must be \"sklearn\".");
			h->flags |= ISOFOREST_FLAG_FLOAT32;
		}
		else if (strcmp(key, "bootstrap") == 0)
		{
			if (v.type != jbvBool)
				BAD_TEXT("\"bootstrap\" must be true or false.");
			if (v.val.boolean)
				h->flags |= ISOFOREST_FLAG_BOOTSTRAP;
		}
		else if (strcmp(key, "group_column") == 0)
			spec.group_column = get_string(&v, key);
		else if (strcmp(key, "threshold_scope") == 0)
		{
			char	   *scope = get_string(&v, key);

			if (strcmp(scope, "group") != 0 && strcmp(scope, "global") != 0)
				BAD_TEXT("\"threshold_scope\" must be \"group\" or \"global\".");
			h->threshold_scope = strcmp(scope, "global") == 0 ? ISOFOREST_SCOPE_GLOBAL : ISOFOREST_SCOPE_GROUP;
		}
		else if (strcmp(key, "min_group_rows") == 0)
			h->min_group_rows = (int32) get_int(&v, key, 0, PG_INT32_MAX);
		else if (strcmp(key, "pooled") == 0)
			read_pooled(&v, &spec);
		else if (strcmp(key, "groups") == 0)
		{
			groups = v;
			have_groups = true;
		}
		else
			BAD_TEXT("Unknown key \"%s\".", key);
	}

	if (!have_format || !have_features || !have_psi || !have_threshold || !have_trees || h->n_trees < 0)
		BAD_TEXT("A model needs the keys format, features, n_trees, psi, threshold and trees.");
	if (n_features >= 0 && n_features != h->n_features)
		BAD_TEXT("\"n_features\" is " INT64_FORMAT " but \"features\" has %d entries.",
				 n_features, h->n_features);
	if (h->sample_size < 0)
		h->sample_size = h->psi;
	if (h->rows_used < 0)
		h->rows_used = h->psi;
	if (!have_source)
		h->threshold_source = h->contamination == 0.0 ? ISOFOREST_THRESHOLD_AUTO : ISOFOREST_THRESHOLD_EXACT;
	if (h->psi > h->sample_size)
		BAD_TEXT("\"psi\" (%d) is larger than \"sample_size\" (%d).", h->psi, h->sample_size);

	if (have_groups)
	{
		int32		n;

		(void) get_array(&groups, "groups", &n);
		if (n > ISOFOREST_MAX_GROUPS || (int64) h->n_trees * (1 + n) > ISOFOREST_MAX_ALL_TREES)
			BAD_TEXT("\"groups\" has more forests than a model holds.");
		h->n_groups = n;
		spec.groups = palloc0(sizeof(IsoForestGroupSpec) * Max(n, 1));
	}
	if ((have_groups || h->n_pooled > 0) && spec.group_column == NULL)
		BAD_TEXT("Peer groups need a \"group_column\".");
	spec.tree_start = palloc(sizeof(int32) * ((Size) IsoForestTotalTrees(h) + 1));
	read_trees(&trees, &spec, h->psi, &tr);
	if (have_groups)
		read_groups(&groups, &spec, &tr);
	spec.tree_start[tr.next_tree] = tr.n_nodes;
	return IsoForestModelBuild(&spec);
}

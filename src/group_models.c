/*
 * group_models.c
 *		isoforest.group_models(groups text[], models isoforest.model[], options
 *		jsonb): one peer-grouped model from a global model and one model per
 *		group, as isoforest.fit(...) GROUP BY produces them.
 *
 * train(group_by => ...) builds its models this way too, so the SQL path
 * and train() give the same thing.  The element whose group is NULL is the
 * global model; a group whose model is NULL, or was trained on fewer than
 * min_group_rows rows, is pooled (scored by the global forest).  Every model must have been trained with the same features and
 * options.  Options: group_column (required), min_group_rows,
 * threshold_scope ('group' or 'global') and, for 'global', threshold (the t
 * every forest then uses).
 */
#include "isoforest.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "feature_spec.h"
#include "json_value.h"

PG_FUNCTION_INFO_V1(isoforest_group_models);

static const JsonReader reader = {
	ERRCODE_INVALID_PARAMETER_VALUE, "invalid isoforest.group_models option"
};

#define GROUP_ERROR(...) \
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg(__VA_ARGS__)))

/* One group's model, for sorting by group value. */
typedef struct GroupModel
{
	char	   *name;
	IsoForestModel *model;		/* NULL: pooled */
} GroupModel;

static int
group_model_cmp(const void *a, const void *b)
{
	return strcmp(((const GroupModel *) a)->name, ((const GroupModel *) b)->name);
}

/* The options, checked. */
typedef struct GroupOptions
{
	char	   *group_column;
	int32		min_group_rows;
	int32		scope;
	bool		has_threshold;
	double		threshold;
} GroupOptions;

static void
read_options(Jsonb *options, GroupOptions *o)
{
	JsonbIterator *it;
	JsonbValue	v;

	memset(o, 0, sizeof(*o));
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		GROUP_ERROR("isoforest.group_models options must be a JSON object");
	it = JsonbIteratorInit(&options->root);
	(void) JsonbIteratorNext(&it, &v, true);
	while (JsonbIteratorNext(&it, &v, true) == WJB_KEY)
	{
		char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

		(void) JsonbIteratorNext(&it, &v, true);
		if (strcmp(key, "group_column") == 0)
			o->group_column = JsonReadString(&reader, &v, key);
		else if (strcmp(key, "min_group_rows") == 0)
			o->min_group_rows = (int32) JsonReadInt(&reader, &v, key, 0, PG_INT32_MAX);
		else if (strcmp(key, "threshold_scope") == 0)
		{
			char	   *scope = JsonReadString(&reader, &v, key);

			if (strcmp(scope, "group") != 0 && strcmp(scope, "global") != 0)
				GROUP_ERROR("threshold_scope must be 'group' or 'global', not '%s'", scope);
			o->scope = strcmp(scope, "global") == 0 ? ISOFOREST_SCOPE_GLOBAL : ISOFOREST_SCOPE_GROUP;
		}
		else if (strcmp(key, "threshold") == 0)
		{
			o->threshold = JsonReadDouble(&reader, &v, key);
			o->has_threshold = true;
			if (!(o->threshold >= 0.0 && o->threshold <= 1.0))
				GROUP_ERROR("threshold must be in [0, 1], not %g", o->threshold);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown isoforest.group_models option \"%s\"", key),
					 errhint("Valid options are group_column, min_group_rows, threshold_scope and threshold.")));
	}
	if (o->group_column == NULL || o->group_column[0] == '\0' || strlen(o->group_column) >= NAMEDATALEN)
		GROUP_ERROR("isoforest.group_models needs the option group_column: the column that holds the groups");
	if (o->has_threshold != (o->scope == ISOFOREST_SCOPE_GLOBAL))
		GROUP_ERROR("threshold goes with threshold_scope 'global', and only with it");
}

/* Do two models agree on everything but their trees and training facts? */
static void
check_compatible(const IsoForestModel *global, const IsoForestModel *m, const char *group)
{
	StringInfoData a,
				b;

	if (m->group_column >= 0)
		GROUP_ERROR("the model of group \"%s\" is itself grouped", group);
	initStringInfo(&a);
	initStringInfo(&b);
	FeatureSpecWrite(&a, FeatureSpecFromModel(global), global->n_features);
	FeatureSpecWrite(&b, FeatureSpecFromModel(m), m->n_features);
	if (strcmp(a.data, b.data) != 0)
		GROUP_ERROR("the model of group \"%s\" has other features than the global model", group);
	if (m->flags != global->flags ||
		m->n_trees != global->n_trees || m->sample_size != global->sample_size ||
		m->max_features != global->max_features || m->contamination != global->contamination)
		GROUP_ERROR("the model of group \"%s\" was trained with other options than the global model", group);
}

/* isoforest.group_models(groups text[], models isoforest.model[], options jsonb) */
Datum
isoforest_group_models(PG_FUNCTION_ARGS)
{
	ArrayType  *groups = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *models = PG_GETARG_ARRAYTYPE_P(1);
	GroupOptions opts;
	Datum	   *gvals,
			   *mvals;
	bool	   *gnulls,
			   *mnulls;
	int			ng,
				nm;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	IsoForestModel *global = NULL;
	GroupModel *parts;
	int32		n_parts = 0;
	IsoForestSpec spec;
	int32		n_forests;
	int32		n_nodes = 0;
	int32		t_out = 0;
	IsoForestModel *m;

	read_options(PG_GETARG_JSONB_P(2), &opts);
	if (ARR_NDIM(groups) > 1 || ARR_NDIM(models) > 1)
		GROUP_ERROR("groups and models must be one-dimensional arrays");
	deconstruct_array(groups, TEXTOID, -1, false, TYPALIGN_INT, &gvals, &gnulls, &ng);
	get_typlenbyvalalign(ARR_ELEMTYPE(models), &typlen, &typbyval, &typalign);
	deconstruct_array(models, ARR_ELEMTYPE(models), typlen, typbyval, typalign, &mvals, &mnulls, &nm);
	if (ng != nm)
		GROUP_ERROR("groups has %d elements but models has %d", ng, nm);

	parts = palloc0(sizeof(GroupModel) * Max(ng, 1));
	for (int i = 0; i < ng; i++)
	{
		IsoForestModel *mi = mnulls[i] ? NULL : DatumGetIsoForestModelP(mvals[i]);

		if (mi != NULL)
			IsoForestValidate(mi, VARSIZE(mi), ERRCODE_DATA_CORRUPTED);
		if (gnulls[i])
		{
			if (global != NULL || mi == NULL)
				GROUP_ERROR("give exactly one global model: the element whose group is NULL");
			global = mi;
			continue;
		}
		parts[n_parts].name = TextDatumGetCString(gvals[i]);
		parts[n_parts].model = mi;
		n_parts++;
	}
	if (global == NULL)
		GROUP_ERROR("give exactly one global model: the element whose group is NULL");
	if (global->group_column >= 0)
		GROUP_ERROR("the global model is itself grouped");
	qsort(parts, n_parts, sizeof(GroupModel), group_model_cmp);
	for (int32 i = 1; i < n_parts; i++)
		if (strcmp(parts[i - 1].name, parts[i].name) == 0)
			GROUP_ERROR("group \"%s\" appears twice", parts[i].name);

	memset(&spec, 0, sizeof(spec));
	spec.header = *global;
	spec.header.n_groups = 0;
	spec.header.n_pooled = 0;
	spec.header.min_group_rows = opts.min_group_rows;
	spec.header.threshold_scope = opts.scope;
	spec.group_column = opts.group_column;
	spec.features = FeatureSpecFromModel(global);
	spec.groups = palloc0(sizeof(IsoForestGroupSpec) * Max(n_parts, 1));
	spec.pooled = palloc0(sizeof(IsoForestPooledSpec) * Max(n_parts, 1));
	for (int32 i = 0; i < n_parts; i++)
	{
		IsoForestModel *mi = parts[i].model;

		if (mi == NULL || mi->rows_used < opts.min_group_rows)
		{
			/* too few rows for a forest of its own: the global forest scores it */
			spec.pooled[spec.header.n_pooled].name = parts[i].name;
			spec.pooled[spec.header.n_pooled].rows = mi ? mi->rows_used : -1;
			spec.header.n_pooled++;
			parts[i].model = NULL;	/* its trees are not copied below */
			continue;
		}
		check_compatible(global, mi, parts[i].name);
		spec.groups[spec.header.n_groups].name = parts[i].name;
		spec.groups[spec.header.n_groups].psi = mi->psi;
		spec.groups[spec.header.n_groups].threshold = mi->threshold;
		spec.groups[spec.header.n_groups].rows_used = mi->rows_used;
		spec.groups[spec.header.n_groups].calibration_rows = mi->calibration_rows;
		spec.groups[spec.header.n_groups].threshold_source = mi->threshold_source;
		spec.header.n_groups++;
		n_nodes += mi->n_nodes;
	}
	if (IsoForestTotalTrees(&spec.header) > ISOFOREST_MAX_ALL_TREES)
		GROUP_ERROR("%d peer-group forests of %d trees are more than a model holds",
					spec.header.n_groups, global->n_trees);
	if (opts.scope == ISOFOREST_SCOPE_GLOBAL)
	{
		spec.header.threshold = opts.threshold;
		for (int32 g = 0; g < spec.header.n_groups; g++)
			spec.groups[g].threshold = opts.threshold;
	}

	/* the trees: the global forest's, then each group's in group order */
	n_forests = 1 + spec.header.n_groups;
	n_nodes += global->n_nodes;
	spec.tree_start = palloc(sizeof(int32) * ((Size) global->n_trees * n_forests + 1));
	spec.nodes = palloc(sizeof(IsoForestNode) * (Size) n_nodes);
	n_nodes = 0;
	for (int32 i = -1; i < n_parts; i++)
	{
		const IsoForestModel *src = i < 0 ? global : parts[i].model;

		if (src == NULL)
			continue;
		for (int32 t = 0; t < src->n_trees; t++)
			spec.tree_start[t_out++] = n_nodes + IsoForestTreeStart(src)[t];
		memcpy(spec.nodes + n_nodes, IsoForestNodes(src), sizeof(IsoForestNode) * (Size) src->n_nodes);
		n_nodes += src->n_nodes;
	}
	spec.tree_start[t_out] = n_nodes;

	m = IsoForestModelBuild(&spec);
	IsoForestValidate(m, VARSIZE(m), ERRCODE_INTERNAL_ERROR);
	PG_RETURN_ISOFOREST_MODEL_P(m);
}

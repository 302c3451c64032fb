/*
 * feature_spec.c
 *		Feature lists as JSON: [{"name": ..., "transform": ..., "labels": [...]}].
 *
 * One reader and one writer serve the model's text form, the "features"
 * option of isoforest.fit (which train() uses to carry transforms and label
 * dictionaries into the model) and isoforest.feature_vector.
 */
#include "isoforest.h"

#include "utils/builtins.h"
#include "utils/json.h"

#include "feature_spec.h"

#define SPEC_ERROR(r, ...) \
	ereport(ERROR, (errcode((r)->errcode), errmsg("%s", (r)->errmsg_text), errdetail(__VA_ARGS__)))

/* Read a JSON array of feature objects. */
IsoForestFeatureSpec *
FeatureSpecRead(const JsonReader *r, const JsonbValue *v, int32 *n)
{
	JsonbContainer *arr = JsonReadArray(r, v, "features", n);
	IsoForestFeatureSpec *features;

	if (*n < 1 || *n > ISOFOREST_MAX_FEATURES)
		SPEC_ERROR(r, "\"features\" has %d entries; give between 1 and %d.", *n, ISOFOREST_MAX_FEATURES);
	features = palloc0(sizeof(IsoForestFeatureSpec) * *n);
	for (int32 f = 0; f < *n; f++)
	{
		JsonbContainer *obj = JsonReadObject(r, getIthJsonbValueFromContainer(arr, f), "features[]");
		JsonbValue *name = getKeyJsonValueFromContainer(obj, "name", 4, NULL);
		JsonbValue *transform = getKeyJsonValueFromContainer(obj, "transform", 9, NULL);
		JsonbValue *labels = getKeyJsonValueFromContainer(obj, "labels", 6, NULL);
		int			expected = 1 + (transform != NULL) + (labels != NULL);

		if (name == NULL)
			SPEC_ERROR(r, "Feature %d has no \"name\".", f + 1);
		if ((int) JsonContainerSize(obj) != expected)
			SPEC_ERROR(r, "Feature %d has keys other than \"name\", \"transform\" and \"labels\".", f + 1);
		features[f].name = JsonReadString(r, name, "name");
		if (features[f].name[0] == '\0')
			SPEC_ERROR(r, "Feature %d has an empty name.", f + 1);
		features[f].transform = ISOFOREST_TRANSFORM_NONE;
		if (transform != NULL)
		{
			char	   *tname = JsonReadString(r, transform, "transform");

			features[f].transform = IsoForestTransformFromName(tname);
			if (features[f].transform < 0)
				SPEC_ERROR(r, "Feature %d has unknown transform \"%s\".", f + 1, tname);
		}
		if (labels != NULL)
		{
			JsonbContainer *larr = JsonReadArray(r, labels, "labels", &features[f].n_labels);

			if (features[f].n_labels > ISOFOREST_MAX_LABELS)
				SPEC_ERROR(r, "Feature %d has more than %d labels.", f + 1, ISOFOREST_MAX_LABELS);
			features[f].labels = palloc(sizeof(char *) * (features[f].n_labels + 1));
			for (int32 i = 0; i < features[f].n_labels; i++)
				features[f].labels[i] = JsonReadString(r, getIthJsonbValueFromContainer(larr, i), "labels[]");
		}
	}
	return features;
}

/* Read a feature list from JSON text. */
IsoForestFeatureSpec *
FeatureSpecReadText(const JsonReader *r, const char *json, int32 *n)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	JsonbValue	v;

	v.type = jbvBinary;
	v.val.binary.data = &jb->root;
	v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	return FeatureSpecRead(r, &v, n);
}

/* Write a feature list as a JSON array (labels only for label()). */
void
FeatureSpecWrite(StringInfo out, const IsoForestFeatureSpec *features, int32 n)
{
	appendStringInfoChar(out, '[');
	for (int32 f = 0; f < n; f++)
	{
		appendStringInfoString(out, f > 0 ? ",{\"name\":" : "{\"name\":");
		escape_json(out, features[f].name);
		appendStringInfo(out, ",\"transform\":\"%s\"", IsoForestTransformName(features[f].transform));
		if (features[f].transform == ISOFOREST_TRANSFORM_LABEL)
		{
			appendStringInfoString(out, ",\"labels\":[");
			for (int32 i = 0; i < features[f].n_labels; i++)
			{
				if (i > 0)
					appendStringInfoChar(out, ',');
				escape_json(out, features[f].labels[i]);
			}
			appendStringInfoChar(out, ']');
		}
		appendStringInfoChar(out, '}');
	}
	appendStringInfoChar(out, ']');
}

/* A validated model's features, pointing into its string pool. */
IsoForestFeatureSpec *
FeatureSpecFromModel(const IsoForestModel *m)
{
	const IsoForestFeature *features = IsoForestFeatures(m);
	const char *pool = IsoForestPool(m);
	IsoForestFeatureSpec *specs = palloc0(sizeof(IsoForestFeatureSpec) * m->n_features);

	for (int32 f = 0; f < m->n_features; f++)
	{
		const char *label = pool + features[f].labels;

		specs[f].name = (char *) pool + features[f].name;
		specs[f].transform = features[f].transform;
		specs[f].n_labels = features[f].n_labels;
		specs[f].labels = palloc(sizeof(char *) * (features[f].n_labels + 1));
		for (int32 i = 0; i < features[f].n_labels; i++)
		{
			specs[f].labels[i] = (char *) label;
			label += strlen(label) + 1;
		}
	}
	return specs;
}

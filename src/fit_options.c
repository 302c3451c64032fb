/*
 * fit_options.c
 *		The options of isoforest.fit: jsonb in, checked FitOptions out.
 *
 * The names are those of isoforest.train; an unknown name is an error
 * that names it, so a typo never silently trains with a default.
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include <math.h>

#include "feature_spec.h"
#include "fit_state.h"
#include "json_value.h"

static const JsonReader reader = {
	ERRCODE_INVALID_PARAMETER_VALUE, "invalid isoforest.fit option"
};

#define OPTION_ERROR(...) \
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid isoforest.fit option"), \
					errdetail(__VA_ARGS__)))

/* Is v JSON null or the string "auto"? */
static bool
is_auto(const JsonbValue *v)
{
	return v->type == jbvNull ||
		(v->type == jbvString && v->val.string.len == 4 && memcmp(v->val.string.val, "auto", 4) == 0);
}

/* Check that no feature appears twice, then keep the list as canonical JSON. */
static void
set_features(FitOptions *o, IsoForestFeatureSpec *features, int32 n)
{
	StringInfoData json;

	for (int32 i = 0; i < n; i++)
	{
		if (strlen(features[i].name) >= NAMEDATALEN)
			OPTION_ERROR("Feature name \"%s\" is longer than %d bytes.", features[i].name, NAMEDATALEN - 1);
		if (features[i].n_labels > 0 && features[i].transform != ISOFOREST_TRANSFORM_LABEL)
			OPTION_ERROR("Feature \"%s\" has labels but is not label().", features[i].name);
		for (int32 k = 1; k < features[i].n_labels; k++)
			if (strcmp(features[i].labels[k - 1], features[i].labels[k]) >= 0)
				OPTION_ERROR("The labels of feature \"%s\" are not sorted and distinct.", features[i].name);
		for (int32 j = 0; j < i; j++)
			if (strcmp(features[i].name, features[j].name) == 0 &&
				features[i].transform == features[j].transform)
				OPTION_ERROR("Feature \"%s\" appears twice.", features[i].name);
	}
	initStringInfo(&json);
	FeatureSpecWrite(&json, features, n);
	o->features_json = json.data;
	o->n_declared = n;
}

/* Read "feature_names": non-empty strings, one per array element. */
static void
read_names(const JsonbValue *v, FitOptions *o)
{
	int32		n;
	JsonbContainer *arr = JsonReadArray(&reader, v, "feature_names", &n);
	IsoForestFeatureSpec *features;

	if (n < 1 || n > ISOFOREST_MAX_FEATURES)
		OPTION_ERROR("\"feature_names\" has %d names; give between 1 and %d.", n, ISOFOREST_MAX_FEATURES);
	features = palloc0(sizeof(IsoForestFeatureSpec) * n);
	for (int32 i = 0; i < n; i++)
	{
		features[i].name = JsonReadString(&reader, getIthJsonbValueFromContainer(arr, i), "feature_names[]");
		if (features[i].name[0] == '\0')
			OPTION_ERROR("Feature name %d is empty.", i + 1);
	}
	set_features(o, features, n);
}

/*
 * compat 'sklearn': random_state is an integer seed in scikit-learn's range,
 * sample_size (if given) is an integer max_samples, and every row is kept,
 * up to calibration_size rows (default: the most allowed).
 */
static void
check_compat(FitOptions *o, Jsonb *options)
{
	JsonbValue *v;

	if (!o->seeded || o->seed < 0 || o->seed > (int64) PG_UINT32_MAX)
		OPTION_ERROR("compat \"sklearn\" needs a seed between 0 and 4294967295: scikit-learn's random_state.");
	v = getKeyJsonValueFromContainer(&options->root, "sample_size", 11, NULL);
	if (v != NULL)
	{
		if (o->max_samples > 0 || o->max_samples_fraction > 0.0)
			OPTION_ERROR("Give max_samples or sample_size, not both.");
		o->max_samples = o->sample_size;
	}
	if (getKeyJsonValueFromContainer(&options->root, "calibration_size", 16, NULL) == NULL)
		o->calibration_size = FIT_MAX_CALIBRATION;
}

/*
 * Fill o from the options object (NULL for all defaults).  Without a seed,
 * the seed is derived from the statement's start time, which parallel
 * workers share with their leader, so one statement still samples
 * consistently across workers.
 */
void
FitOptionsParse(Jsonb *options, FitOptions *o)
{
	memset(o, 0, sizeof(*o));
	o->n_trees = ISOFOREST_DEFAULT_TREES;
	o->sample_size = ISOFOREST_DEFAULT_SAMPLE;
	o->calibration_size = ISOFOREST_DEFAULT_CALIBRATION;
	o->max_features = 1.0;

	if (options != NULL)
	{
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken r;

		if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
			OPTION_ERROR("Options are a JSON object, for example '{\"n_trees\": 100, \"seed\": 42}'.");
		it = JsonbIteratorInit(&options->root);
		(void) JsonbIteratorNext(&it, &v, true);
		while ((r = JsonbIteratorNext(&it, &v, true)) == WJB_KEY)
		{
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

			(void) JsonbIteratorNext(&it, &v, true);
			if (strcmp(key, "n_trees") == 0)
				o->n_trees = (int32) JsonReadInt(&reader, &v, key, 1, ISOFOREST_MAX_TREES);
			else if (strcmp(key, "sample_size") == 0)
				o->sample_size = (int32) JsonReadInt(&reader, &v, key, 2, ISOFOREST_MAX_SAMPLE);
			else if (strcmp(key, "calibration_size") == 0)
				o->calibration_size = (int32) JsonReadInt(&reader, &v, key, 1, FIT_MAX_CALIBRATION);
			else if (strcmp(key, "max_features") == 0)
			{
				o->max_features = JsonReadDouble(&reader, &v, key);
				/* an integer above 1 counts features, as scikit-learn's int max_features */
				if (o->max_features > 1.0 && o->max_features == floor(o->max_features) &&
					o->max_features <= ISOFOREST_MAX_FEATURES)
				{
					o->max_features_count = (int32) o->max_features;
					o->max_features = 1.0;
				}
				else if (!(o->max_features > 0.0 && o->max_features <= 1.0))
					OPTION_ERROR("\"max_features\" is %g; it must be in (0, 1], or a count of features.",
								 o->max_features);
			}
			else if (strcmp(key, "compat") == 0)
			{
				if (v.type != jbvNull)
				{
					char	   *compat = JsonReadString(&reader, &v, key);

					if (strcmp(compat, "sklearn") != 0)
						OPTION_ERROR("\"compat\" is \"%s\"; the one mode is \"sklearn\".", compat);
					o->compat = true;
				}
			}
			else if (strcmp(key, "max_samples") == 0)
			{
				if (!is_auto(&v))
				{
					double		m = JsonReadDouble(&reader, &v, key);

					if (m > 0.0 && m <= 1.0 && !(m == 1.0 && v.type == jbvNumeric &&
												 strchr(DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric))), '.') == NULL))
						o->max_samples_fraction = m;
					else if (m >= 1.0 && m == floor(m) && m <= (double) PG_INT32_MAX)
						o->max_samples = (int64) m;
					else
						OPTION_ERROR("\"max_samples\" is %g; give \"auto\", a fraction in (0, 1] or a number of rows.", m);
				}
			}
			else if (strcmp(key, "bootstrap") == 0)
			{
				if (v.type != jbvBool)
					OPTION_ERROR("\"bootstrap\" must be true or false.");
				o->bootstrap = v.val.boolean;
			}
			else if (strcmp(key, "contamination") == 0)
			{
				o->contamination = is_auto(&v) ? 0.0 : JsonReadDouble(&reader, &v, key);
				if (!is_auto(&v) && !(o->contamination > 0.0 && o->contamination <= 0.5))
					OPTION_ERROR("\"contamination\" is %g; it must be in (0, 0.5], or \"auto\".",
								 o->contamination);
			}
			else if (strcmp(key, "seed") == 0)
			{
				if (v.type != jbvNull)
				{
					o->seed = JsonReadInt(&reader, &v, key, PG_INT64_MIN, PG_INT64_MAX);
					o->seeded = true;
				}
			}
			else if (strcmp(key, "feature_names") == 0)
				read_names(&v, o);
			else if (strcmp(key, "features") == 0)
			{
				int32		n;
				IsoForestFeatureSpec *features = FeatureSpecRead(&reader, &v, &n);

				set_features(o, features, n);
			}
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown isoforest.fit option \"%s\"", key),
						 errhint("Valid options are n_trees, sample_size, max_features, contamination, seed, feature_names, features, calibration_size, and with compat \"sklearn\": max_samples and bootstrap.")));
		}
	}
	if (o->compat)
		check_compat(o, options);
	else if (o->bootstrap || o->max_samples > 0 || o->max_samples_fraction > 0.0 || o->max_features_count > 0)
		OPTION_ERROR("max_samples, bootstrap and a count of max_features go with \"compat\": \"sklearn\".");
	if (!o->seeded)
	{
		TimestampTz now = GetCurrentStatementStartTimestamp();

		o->seed = (int64) hash_bytes_uint32_extended((uint32) now, (uint64) (now >> 32));
	}
}

/*
 * feature_vector.c
 *		isoforest.feature_vector(features jsonb, row record) -> float8[]: a
 *		row's features as train() feeds them to isoforest.fit.
 *
 * Training and scoring rows go through the same RowFeatureRead, so a row
 * gets the same numbers in both.  NULL columns become NULL elements and
 * non-finite results stay NaN or Infinity, so that isoforest.fit skips and
 * counts those rows and train() can say why.
 */
#include "isoforest.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "feature_spec.h"
#include "row_features.h"

PG_FUNCTION_INFO_V1(isoforest_feature_vector);

/* The parsed feature list and the row map, kept per call site. */
typedef struct VectorCache
{
	MemoryContext cxt;
	Size		spec_size;
	char	   *spec_bytes;		/* the jsonb it was parsed from: the cache key */
	IsoForestFeatureSpec *features;
	int32		n;
	RowFeatureMap *map;
} VectorCache;

static const JsonReader reader = {
	ERRCODE_INVALID_PARAMETER_VALUE, "invalid feature list"
};

Datum
isoforest_feature_vector(PG_FUNCTION_ARGS)
{
	Jsonb	   *spec = PG_GETARG_JSONB_P(0);
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(1);
	VectorCache *cache = (VectorCache *) fcinfo->flinfo->fn_extra;
	Datum	   *values;
	bool	   *nulls;
	double	   *x;
	int			dims[1];
	int			lbs[1] = {1};

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(VectorCache));
		cache->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "isoforest feature_vector",
										   ALLOCSET_SMALL_SIZES);
		fcinfo->flinfo->fn_extra = cache;
	}
	if (cache->spec_bytes == NULL || cache->spec_size != VARSIZE(spec) ||
		memcmp(cache->spec_bytes, spec, cache->spec_size) != 0)
	{
		MemoryContext old;
		JsonbValue	v;

		MemoryContextReset(cache->cxt);
		cache->spec_bytes = NULL;
		cache->map = NULL;
		old = MemoryContextSwitchTo(cache->cxt);
		v.type = jbvBinary;
		v.val.binary.data = &spec->root;
		v.val.binary.len = VARSIZE(spec) - VARHDRSZ;
		cache->features = FeatureSpecRead(&reader, &v, &cache->n);
		cache->spec_size = VARSIZE(spec);
		cache->spec_bytes = palloc(cache->spec_size);
		memcpy(cache->spec_bytes, spec, cache->spec_size);
		MemoryContextSwitchTo(old);
	}
	cache->map = RowFeatureMapFor(cache->map, row, cache->features, cache->n, NULL, cache->cxt);

	x = palloc(sizeof(double) * cache->n);
	values = palloc(sizeof(Datum) * cache->n);
	nulls = palloc(sizeof(bool) * cache->n);
	(void) RowFeatureRead(cache->map, row, x, nulls);
	for (int32 f = 0; f < cache->n; f++)
		values[f] = Float8GetDatum(x[f]);
	dims[0] = cache->n;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(values, nulls, 1, dims, lbs, FLOAT8OID,
											 sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

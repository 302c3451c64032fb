/*
 * row_features.c
 *		Feature vectors from rows: columns found by name, transforms and label
 *		encoding applied, for training (isoforest.feature_vector) and for
 *		scoring rows (isoforest.score(m, row)).
 *
 * A map from a row type to the features is built once per call site and
 * row type and reused for every row: the column positions, how to read each
 * column as a number, and each label() dictionary.  label() encodes like
 * scikit-learn's LabelEncoder: the value's text (the type's output
 * function) is looked up in the sorted dictionary (byte order, as Python
 * sorts strings) and coded by its position; an unseen value gets the code
 * n_labels.
 */
#include "isoforest.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "row_features.h"

/* How a column turns into a number. */
typedef enum ColumnKind
{
	COLUMN_FLOAT8,
	COLUMN_FLOAT4,
	COLUMN_INT2,
	COLUMN_INT4,
	COLUMN_INT8,
	COLUMN_NUMERIC,
	COLUMN_LABEL
} ColumnKind;

typedef struct RowFeatureMap
{
	Oid			typid;			/* the row type this map is for */
	int32		typmod;
	TypeCacheEntry *typentry;	/* a named row type's cache entry (NULL for RECORD) */
	uint64		tupdesc_id;		/* its descriptor's identifier when the map was built */
	int32		n_features;
	TupleDesc	desc;			/* a copy of the row type's descriptor */
	int32	   *attno;			/* per feature: 0-based attribute */
	ColumnKind *kind;
	FmgrInfo   *output;			/* per feature: output function, for label() */
	const IsoForestFeatureSpec *features;
	int32		group_attno;	/* 0-based attribute of the peer-group column, or -1 */
	FmgrInfo	group_output;	/* its output function */
} RowFeatureMap;

/* The numeric kind of a type, or -1. */
static int
numeric_kind(Oid type)
{
	switch (type)
	{
		case FLOAT8OID:
			return COLUMN_FLOAT8;
		case FLOAT4OID:
			return COLUMN_FLOAT4;
		case INT2OID:
			return COLUMN_INT2;
		case INT4OID:
			return COLUMN_INT4;
		case INT8OID:
			return COLUMN_INT8;
		case NUMERICOID:
			return COLUMN_NUMERIC;
		default:
			return -1;
	}
}

/*
 * Map the features onto the columns of a row type.  A missing column or a
 * non-numeric column without label() is an ERROR naming it.
 */
/* The 0-based position of a live column by name, or -1. */
static int32
find_column(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return i;
	}
	return -1;
}

static RowFeatureMap *
map_build(TupleDesc desc, Oid typid, int32 typmod, const IsoForestFeatureSpec *features, int32 n,
		  const char *group_column)
{
	RowFeatureMap *map = palloc0(sizeof(RowFeatureMap));

	map->typid = typid;
	map->typmod = typmod;
	map->n_features = n;
	map->features = features;
	map->attno = palloc(sizeof(int32) * n);
	map->kind = palloc(sizeof(ColumnKind) * n);
	map->output = palloc0(sizeof(FmgrInfo) * n);
	for (int32 f = 0; f < n; f++)
	{
		const char *name = features[f].name;
		int32		att = find_column(desc, name);
		Oid			type;

		if (att < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of feature %d is not in the row", name, f + 1),
					 errhint("Score rows of a relation that has the model's columns: %s.",
							 "see isoforest.info(model)->'features'")));
		type = getBaseType(TupleDescAttr(desc, att)->atttypid);
		map->attno[f] = att;
		if (features[f].transform == ISOFOREST_TRANSFORM_LABEL)
		{
			Oid			out;
			bool		varlena;

			map->kind[f] = COLUMN_LABEL;
			getTypeOutputInfo(TupleDescAttr(desc, att)->atttypid, &out, &varlena);
			fmgr_info_cxt(out, &map->output[f], CurrentMemoryContext);
		}
		else if (numeric_kind(type) >= 0)
			map->kind[f] = (ColumnKind) numeric_kind(type);
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" is of type %s, which is not numeric",
							name, format_type_be(TupleDescAttr(desc, att)->atttypid)),
					 errhint("Encode it with label(%s).", quote_identifier(name))));
	}
	map->group_attno = -1;
	if (group_column != NULL)
	{
		Oid			out;
		bool		varlena;

		map->group_attno = find_column(desc, group_column);
		if (map->group_attno < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("peer-group column \"%s\" is not in the row", group_column)));
		getTypeOutputInfo(TupleDescAttr(desc, map->group_attno)->atttypid, &out, &varlena);
		fmgr_info_cxt(out, &map->group_output, CurrentMemoryContext);
	}
	map->desc = CreateTupleDescCopy(desc);
	return map;
}

/* The map for this row's type: the cached one if it matches, else a new one in cxt. */
RowFeatureMap *
RowFeatureMapFor(RowFeatureMap *cached, HeapTupleHeader row, const IsoForestFeatureSpec *features,
				 int32 n, const char *group_column, MemoryContext cxt)
{
	Oid			typid = HeapTupleHeaderGetTypeId(row);
	int32		typmod = HeapTupleHeaderGetTypMod(row);
	TupleDesc	desc;
	MemoryContext old;
	RowFeatureMap *map;

	/* a named row type changed by ALTER TABLE gets a new descriptor identifier */
	if (cached != NULL && cached->typid == typid && cached->typmod == typmod &&
		cached->features == features &&
		(cached->typentry == NULL || cached->typentry->tupDesc_identifier == cached->tupdesc_id))
		return cached;
	desc = lookup_rowtype_tupdesc(typid, typmod);
	old = MemoryContextSwitchTo(cxt);
	map = map_build(desc, typid, typmod, features, n, group_column);
	if (typid != RECORDOID)
	{
		map->typentry = lookup_type_cache(typid, TYPECACHE_TUPDESC);
		map->tupdesc_id = map->typentry->tupDesc_identifier;
	}
	MemoryContextSwitchTo(old);
	ReleaseTupleDesc(desc);
	return map;
}

/* The position of s in the sorted dictionary, or n_labels when unseen. */
static double
label_code(const IsoForestFeatureSpec *feature, const char *s)
{
	int32		lo = 0,
				hi = feature->n_labels - 1;

	while (lo <= hi)
	{
		int32		mid = lo + (hi - lo) / 2;
		int			c = strcmp(feature->labels[mid], s);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return feature->n_labels;
}

/* One column's value as a number before its transform. */
static double
column_value(const RowFeatureMap *map, int32 f, Datum value)
{
	switch (map->kind[f])
	{
		case COLUMN_FLOAT8:
			return DatumGetFloat8(value);
		case COLUMN_FLOAT4:
			return DatumGetFloat4(value);
		case COLUMN_INT2:
			return DatumGetInt16(value);
		case COLUMN_INT4:
			return DatumGetInt32(value);
		case COLUMN_INT8:
			return (double) DatumGetInt64(value);
		case COLUMN_NUMERIC:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, value));
		case COLUMN_LABEL:
			return label_code(&map->features[f], OutputFunctionCall(&map->output[f], value));
	}
	return 0.0;					/* not reached */
}

/*
 * Read a row's features into out[], transformed.  Returns FEATURES_NULL
 * when a used column is NULL and FEATURES_NOT_FINITE when a value is NaN
 * or infinite before or after its transform; out[] then holds what was
 * read, and out_nulls[] (when given) which features were NULL.
 */
FeatureRowStatus
RowFeatureRead(const RowFeatureMap *map, HeapTupleHeader row, double *out, bool *out_nulls)
{
	HeapTupleData tuple;
	int			natts = map->desc->natts;
	Datum		stack_values[32];
	bool		stack_nulls[32];
	Datum	   *values = natts <= 32 ? stack_values : palloc(sizeof(Datum) * natts);
	bool	   *nulls = natts <= 32 ? stack_nulls : palloc(sizeof(bool) * natts);
	FeatureRowStatus status = FEATURES_OK;

	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;
	heap_deform_tuple(&tuple, map->desc, values, nulls);

	for (int32 f = 0; f < map->n_features; f++)
	{
		double		x;

		if (out_nulls != NULL)
			out_nulls[f] = nulls[map->attno[f]];
		if (nulls[map->attno[f]])
		{
			out[f] = get_float8_nan();
			status = FEATURES_NULL;
			continue;
		}
		x = column_value(map, f, values[map->attno[f]]);
		switch (map->features[f].transform)
		{
			case ISOFOREST_TRANSFORM_LOG1P:
				x = log1p(x);
				break;
			case ISOFOREST_TRANSFORM_LN:
				x = log(x);
				break;
			case ISOFOREST_TRANSFORM_SQRT:
				x = sqrt(x);
				break;
			default:
				break;
		}
		out[f] = x == 0.0 ? 0.0 : x;
		if (!isfinite(x) && status == FEATURES_OK)
			status = FEATURES_NOT_FINITE;
	}
	return status;
}

/* The row's peer-group value as text (its type's output), or NULL. */
char *
RowGroupValue(const RowFeatureMap *map, HeapTupleHeader row)
{
	HeapTupleData tuple;
	Datum		value;
	bool		isnull;

	if (map->group_attno < 0)
		return NULL;
	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;
	value = heap_getattr(&tuple, map->group_attno + 1, map->desc, &isnull);
	return isnull ? NULL : OutputFunctionCall((FmgrInfo *) &map->group_output, value);
}

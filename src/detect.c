/*
 * detect.c
 *		isoforest.detect(name, source): score every row of a relation with a
 *		registered model, as a set of (key, grp, anomaly_score, decision,
 *		is_anomaly).
 *
 * Materialize mode: the rows are read through an SPI cursor in batches of
 * DETECT_BATCH, each batch's memory is freed before the next, and results
 * go to the executor's tuplestore, which spills to disk past work_mem.  So
 * memory stays bounded whatever the table size, and cancellation is
 * honoured between batches.  The relation is read with the caller's
 * privileges.
 */
#include "isoforest.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"

#include "forest.h"
#include "row_features.h"

PG_FUNCTION_INFO_V1(isoforest_detect);

#define DETECT_BATCH 1000

/* A registered model, read from isoforest.models. */
typedef struct Registered
{
	IsoForestModel *model;
	Oid			source;
	char	   *key;			/* NULL when the model has no key */
	char	   *group_by;		/* NULL when the model has no peer groups */
} Registered;

/* Look the model up by name (inside SPI); copy what is needed into cxt. */
static Registered
registry_lookup(text *name, MemoryContext cxt)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {PointerGetDatum(name)};
	Registered	reg;
	bool		isnull;
	MemoryContext old;
	Datum		d;

	if (SPI_execute_with_args("SELECT model, source, key, group_by FROM isoforest.models WHERE name = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read isoforest.models");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("isoforest model \"%s\" does not exist", text_to_cstring(name)),
				 errhint("Train it with isoforest.train(); SELECT name FROM isoforest.models lists the models.")));
	old = MemoryContextSwitchTo(cxt);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	reg.model = (IsoForestModel *) PG_DETOAST_DATUM_COPY(d);
	reg.source = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	reg.key = isnull ? NULL : TextDatumGetCString(d);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
	reg.group_by = isnull ? NULL : TextDatumGetCString(d);
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	IsoForestValidate(reg.model, VARSIZE(reg.model), ERRCODE_DATA_CORRUPTED);
	return reg;
}

/* isoforest.detect(name text, source regclass DEFAULT NULL) */
Datum
isoforest_detect(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext call_cxt = CurrentMemoryContext;
	MemoryContext batch_cxt;
	Registered	reg;
	Forest	   *forest;
	Oid			source;
	StringInfoData query;
	SPIPlanPtr	plan;
	Portal		portal;
	double	   *x;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL")));
	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	reg = registry_lookup(PG_GETARG_TEXT_PP(0), call_cxt);
	source = PG_ARGISNULL(1) ? reg.source : PG_GETARG_OID(1);
	if (get_rel_name(source) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the source relation of model \"%s\" no longer exists",
						text_to_cstring(PG_GETARG_TEXT_PP(0)))));

	{
		MemoryContext old = MemoryContextSwitchTo(call_cxt);

		forest = ForestPrepare(reg.model);
		x = palloc(sizeof(double) * forest->n_features);
		MemoryContextSwitchTo(old);
	}

	initStringInfo(&query);
	appendStringInfo(&query, "SELECT %s, isoforest_row FROM %s AS isoforest_row",
					 reg.key ? psprintf("(isoforest_row.%s)::text", quote_identifier(reg.key)) : "NULL::text",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(source)),
												get_rel_name(source)));
	/*
	 * A peer-grouped model's forests together can be far larger than the CPU
	 * caches; rows of one group in a row keep its forest cached (about 6x
	 * faster on 1,000 groups than rows in table order).
	 */
	if (reg.group_by != NULL)
		appendStringInfo(&query, " ORDER BY isoforest_row.%s", quote_identifier(reg.group_by));
	plan = SPI_prepare(query.data, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", query.data, SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	/* a column named like the alias would be read instead of the row: refuse it */
	if (SPI_gettypeid(portal->tupDesc, 2) != get_rel_type_id(source))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_COLUMN),
				 errmsg("relation %s has a column named \"isoforest_row\"", get_rel_name(source))));

	batch_cxt = AllocSetContextCreate(call_cxt, "isoforest detect batch", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, DETECT_BATCH);
		if (SPI_processed == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[i];
			Datum		values[5];
			bool		nulls[5] = {false, true, false, false, false};
			bool		isnull;
			int32		f = 0;
			Datum		row;
			MemoryContext old = MemoryContextSwitchTo(batch_cxt);

			values[0] = SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &nulls[0]);
			row = SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull);
			values[1] = (Datum) 0;	/* grp: peer groups come later */
			if (!isnull)
			{
				HeapTupleHeader rec = DatumGetHeapTupleHeader(row);

				forest->row_map = RowFeatureMapFor(forest->row_map, rec, forest->features,
												   forest->n_features, forest->group_column, call_cxt);
				isnull = RowFeatureRead(forest->row_map, rec, x, NULL) != FEATURES_OK ||
					!ForestPrepareInputs(forest, x);
				f = ForestFindGroup(forest, RowGroupValue(forest->row_map, rec));
			}
			if (isnull)
				nulls[2] = nulls[3] = nulls[4] = true;
			else
			{
				double		score = ForestScore(forest, f, x);

				values[2] = Float8GetDatum(score);
				values[3] = Float8GetDatum(forest->threshold[f] - score);
				values[4] = BoolGetDatum(forest->threshold[f] - score < 0.0);
				/* grp: the peer group whose forest scored the row (NULL: the global forest) */
				if (f > 0)
				{
					values[1] = CStringGetTextDatum(forest->group_names[f]);
					nulls[1] = false;
				}
			}
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			MemoryContextSwitchTo(old);
		}
		SPI_freetuptable(SPI_tuptable);
		MemoryContextReset(batch_cxt);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	return (Datum) 0;
}

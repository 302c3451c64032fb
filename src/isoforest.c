/*
 * isoforest.c
 *		Module glue: the magic block.  The functions live in the files named
 *		for what they do (model_io.c, score.c, fit_agg.c, ...).
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;

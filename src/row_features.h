/*
 * row_features.h
 *		Feature vectors from rows of any composite type.
 */
#ifndef ISOFOREST_ROW_FEATURES_H
#define ISOFOREST_ROW_FEATURES_H

#include "access/htup.h"

#include "features.h"

typedef struct RowFeatureMap RowFeatureMap;

extern RowFeatureMap *RowFeatureMapFor(RowFeatureMap *cached, HeapTupleHeader row,
									   const IsoForestFeatureSpec *features, int32 n,
									   const char *group_column, MemoryContext cxt);
extern char *RowGroupValue(const RowFeatureMap *map, HeapTupleHeader row);
extern FeatureRowStatus RowFeatureRead(const RowFeatureMap *map, HeapTupleHeader row, double *out,
									   bool *out_nulls);

#endif							/* ISOFOREST_ROW_FEATURES_H */

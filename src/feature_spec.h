/*
 * feature_spec.h
 *		Feature lists (name, transform, label dictionary) as JSON and as
 *		read from a model.
 */
#ifndef ISOFOREST_FEATURE_SPEC_H
#define ISOFOREST_FEATURE_SPEC_H

#include "isoforest.h"
#include "json_value.h"

extern IsoForestFeatureSpec *FeatureSpecRead(const JsonReader *r, const JsonbValue *v, int32 *n);
extern IsoForestFeatureSpec *FeatureSpecReadText(const JsonReader *r, const char *json, int32 *n);
extern void FeatureSpecWrite(StringInfo out, const IsoForestFeatureSpec *features, int32 n);
extern IsoForestFeatureSpec *FeatureSpecFromModel(const IsoForestModel *m);

/* feature_parse.c */
extern void FeatureParse(const char *text, int32 *transform, char **column);
extern char *FeatureDeparse(int32 transform, const char *column);

#endif							/* ISOFOREST_FEATURE_SPEC_H */

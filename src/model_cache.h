/*
 * model_cache.h
 *		The per-call-site cache of a decoded, validated, prepared model.
 */
#ifndef ISOFOREST_MODEL_CACHE_H
#define ISOFOREST_MODEL_CACHE_H

#include "forest.h"

extern const Forest *ModelCacheGet(FunctionCallInfo fcinfo, int argno);

#endif							/* ISOFOREST_MODEL_CACHE_H */

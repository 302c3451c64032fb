/*
 * model_cache.c
 *		Decode, validate and prepare a model once per call site and query,
 *		not once per row.
 *
 * The cache lives in fn_extra and is keyed by what the argument datum is,
 * before any detoasting:
 *	 - a TOAST pointer to an out-of-line value: the pointer itself (relation
 *	   and value OIDs identify the stored value), as PostGIS does, so a model
 *	   read from a table per row is fetched once;
 *	 - a small in-line value (compressed or not): its bytes, compared whole;
 *	 - a large in-memory value: its size and fingerprint, a 64-bit hash of
 *	   the whole value that the input, receive and training paths compute.
 * A call site keeps the last few models it saw (a join of rows with a
 * table of per-group models alternates between them); a model whose key
 * matches none replaces the oldest entry, so a different model is never
 * scored with a stale one.  A miss validates the model again and checks
 * its fingerprint, which catches a value damaged on disk.
 */
#include "isoforest.h"

#include "access/detoast.h"
#include "utils/memutils.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "model_cache.h"

/* In-line values up to this size are keyed by their bytes. */
#define CACHE_BYTES_KEY_LIMIT 8192

/* Models remembered per call site. */
#define CACHE_ENTRIES 8

typedef enum CacheKeyKind
{
	KEY_NONE,
	KEY_TOAST,
	KEY_BYTES,
	KEY_FINGERPRINT
} CacheKeyKind;

typedef struct ModelCacheEntry
{
	MemoryContext cxt;			/* holds everything below; reset on reuse */
	CacheKeyKind kind;
	struct varatt_external toast;	/* KEY_TOAST */
	Size		size;			/* KEY_BYTES, KEY_FINGERPRINT: datum size */
	char	   *bytes;			/* KEY_BYTES: a copy of the datum */
	uint64		fingerprint;	/* KEY_FINGERPRINT */
	Forest	   *forest;
} ModelCacheEntry;

typedef struct ModelCache
{
	ModelCacheEntry entries[CACHE_ENTRIES];
	int			next_victim;	/* entries are replaced round-robin */
} ModelCache;

/* The fingerprint stored in a plain in-memory model, read without alignment assumptions. */
static uint64
stored_fingerprint(const struct varlena *datum)
{
	uint64		fp;

	memcpy(&fp, (const char *) datum + offsetof(IsoForestModel, fingerprint), sizeof(fp));
	return fp;
}

/* Does the cached entry hold the model this datum is? */
static bool
cache_matches(const ModelCacheEntry *cache, const struct varlena *datum)
{
	switch (cache->kind)
	{
		case KEY_TOAST:
			if (VARATT_IS_EXTERNAL_ONDISK(datum))
			{
				struct varatt_external toast;

				VARATT_EXTERNAL_GET_POINTER(toast, datum);
				return memcmp(&toast, &cache->toast, sizeof(toast)) == 0;
			}
			return false;
		case KEY_BYTES:
			return !VARATT_IS_EXTERNAL(datum) && VARSIZE_ANY(datum) == cache->size &&
				memcmp(datum, cache->bytes, cache->size) == 0;
		case KEY_FINGERPRINT:
			return !VARATT_IS_EXTERNAL(datum) && VARATT_IS_4B_U(datum) &&
				VARSIZE(datum) == cache->size && stored_fingerprint(datum) == cache->fingerprint;
		default:
			return false;
	}
}

/* Record the key of this datum in the (just reset) cache. */
static void
cache_set_key(ModelCacheEntry *cache, const struct varlena *datum, const IsoForestModel *m)
{
	if (VARATT_IS_EXTERNAL_ONDISK(datum))
	{
		cache->kind = KEY_TOAST;
		VARATT_EXTERNAL_GET_POINTER(cache->toast, datum);
	}
	else if (VARATT_IS_EXTERNAL(datum))
		cache->kind = KEY_NONE; /* indirect or expanded: rare, never cached */
	else if (VARSIZE_ANY(datum) <= CACHE_BYTES_KEY_LIMIT || !VARATT_IS_4B_U(datum))
	{
		cache->kind = KEY_BYTES;
		cache->size = VARSIZE_ANY(datum);
		cache->bytes = MemoryContextAlloc(cache->cxt, cache->size);
		memcpy(cache->bytes, datum, cache->size);
	}
	else
	{
		cache->kind = KEY_FINGERPRINT;
		cache->size = VARSIZE(datum);
		cache->fingerprint = m->fingerprint;
	}
}

/*
 * The prepared form of the model in argument argno, from the cache when the
 * same model was seen before at this call site.
 */
const Forest *
ModelCacheGet(FunctionCallInfo fcinfo, int argno)
{
	struct varlena *datum = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	ModelCache *cache = (ModelCache *) fcinfo->flinfo->fn_extra;
	ModelCacheEntry *entry;
	IsoForestModel *m;
	Forest	   *forest;
	MemoryContext old;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ModelCache));
		fcinfo->flinfo->fn_extra = cache;
	}
	for (int i = 0; i < CACHE_ENTRIES; i++)
		if (cache->entries[i].forest != NULL && cache_matches(&cache->entries[i], datum))
			return cache->entries[i].forest;

	entry = &cache->entries[cache->next_victim];
	cache->next_victim = (cache->next_victim + 1) % CACHE_ENTRIES;
	if (entry->cxt == NULL)
		entry->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "isoforest model cache",
										   ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(entry->cxt);
	entry->kind = KEY_NONE;
	entry->forest = NULL;

	old = MemoryContextSwitchTo(entry->cxt);
	m = (IsoForestModel *) detoast_attr(datum);
	IsoForestValidate(m, VARSIZE(m), ERRCODE_DATA_CORRUPTED);
	if (IsoForestFingerprint(m) != m->fingerprint)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid isoforest model"),
				 errdetail("The stored fingerprint does not match the model's contents.")));
	forest = ForestPrepare(m);
	cache_set_key(entry, datum, m);
	if ((Pointer) m != (Pointer) datum)
		pfree(m);
	MemoryContextSwitchTo(old);
	/* published last: an error above leaves the entry unused */
	entry->forest = forest;
	return forest;
}

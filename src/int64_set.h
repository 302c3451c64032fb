/*
 * int64_set.h
 *		A small open-addressing set of non-negative int64 values, for drawing
 *		distinct positions (scikit-learn's tracking selection, Floyd's
 *		algorithm).  Only membership matters, never where a value sits.
 */
#ifndef ISOFOREST_INT64_SET_H
#define ISOFOREST_INT64_SET_H

#include "c.h"

typedef struct Int64Set
{
	int64	   *slots;			/* -1 = empty */
	uint64		mask;			/* slots has mask + 1 entries, a power of two */
} Int64Set;

/* A set with room for n values (at most half full). */
static inline Int64Set
Int64SetCreate(uint64 n)
{
	Int64Set	set;
	uint64		size = 16;

	while (size < 2 * n)
		size <<= 1;
	set.slots = palloc(sizeof(int64) * size);
	memset(set.slots, -1, sizeof(int64) * size);
	set.mask = size - 1;
	return set;
}

/* Add v; false if it was already there. */
static inline bool
Int64SetAdd(Int64Set *set, int64 v)
{
	uint64		i = ((uint64) v * UINT64CONST(0x9E3779B97F4A7C15)) >> 17 & set->mask;

	while (set->slots[i] >= 0)
	{
		if (set->slots[i] == v)
			return false;
		i = (i + 1) & set->mask;
	}
	set->slots[i] = v;
	return true;
}

#endif							/* ISOFOREST_INT64_SET_H */

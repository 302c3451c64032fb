/*
 * rng.h
 *		A small private PRNG (xoshiro256**, seeded by splitmix64) so that a
 *		model depends only on its seed, never on the server's global random
 *		state, and so the code builds on PostgreSQL versions without pg_prng.
 */
#ifndef ISOFOREST_RNG_H
#define ISOFOREST_RNG_H

#include "c.h"

typedef struct Rng
{
	uint64		s[4];
} Rng;

static inline uint64
rng_rotl(uint64 x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* Seed from one 64-bit value through splitmix64, as xoshiro's authors advise. */
static inline void
rng_seed(Rng *rng, uint64 seed)
{
	for (int i = 0; i < 4; i++)
	{
		uint64		z = (seed += UINT64CONST(0x9E3779B97F4A7C15));

		z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
		z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
		rng->s[i] = z ^ (z >> 31);
	}
}

static inline uint64
rng_next(Rng *rng)
{
	uint64	   *s = rng->s;
	uint64		result = rng_rotl(s[1] * 5, 7) * 9;
	uint64		t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl(s[3], 45);
	return result;
}

/* A double uniform in [0, 1), from the top 53 bits. */
static inline double
rng_double(Rng *rng)
{
	return (double) (rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* An integer uniform in [0, n), n > 0, without modulo bias. */
static inline uint64
rng_below(Rng *rng, uint64 n)
{
	uint64		limit = PG_UINT64_MAX - PG_UINT64_MAX % n;
	uint64		x;

	do
		x = rng_next(rng);
	while (x >= limit);
	return x % n;
}

#endif							/* ISOFOREST_RNG_H */

/* rng.h - an explicit, seedable random number generator (xoshiro256**).
 *
 * Every consumer owns its state; nothing draws from a hidden global, so a
 * run is reproduced exactly from its seed and the states can be saved. */
#ifndef CELLAR_CORE_RNG_H
#define CELLAR_CORE_RNG_H

#include <stdint.h>

typedef struct cl_rng {
    uint64_t s[4];
} cl_rng;

void rng_seed(cl_rng *r, uint64_t seed);
uint64_t rng_u64(cl_rng *r);
/* uniform in [0, 1) with 24 random bits */
float rng_uniform(cl_rng *r);
/* uniform integer in [0, n), unbiased; n > 0 */
uint32_t rng_below(cl_rng *r, uint32_t n);
/* standard normal (Box-Muller) */
float rng_normal(cl_rng *r);
/* Fisher-Yates shuffle of idx[0..n) */
void rng_shuffle(cl_rng *r, int *idx, int n);

/* a well-mixed 64-bit hash step, used for seeding and hashing */
uint64_t mix64(uint64_t x);

#endif

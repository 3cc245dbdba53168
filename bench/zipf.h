/*
 * zipf.h - key choosers of orderstore-bench: uniform and zipfian (bench only).
 *
 * The zipfian generator is the one of Gray et al., "Quickly Generating Billion-Record
 * Synthetic Databases" (SIGMOD 1994), as YCSB's ZipfianGenerator implements it: rank r
 * (0-based) of n items is drawn with probability (1/(r+1)^theta) / zeta(n, theta). Like
 * YCSB's ScrambledZipfianGenerator the rank is then scattered over the key space by a
 * 64-bit FNV-1a hash, so the hot keys are not all neighbours (key 0, 1, 2...).
 *
 * Setup costs O(n) (zeta(n) is a sum over n terms: about 1 s for 10^8 items); each draw is
 * O(1). A generator is read-only after ob_keygen_init(), so threads may share one, each
 * with its own random state.
 */
#ifndef OB_ZIPF_H
#define OB_ZIPF_H

#include <stdint.h>

/** YCSB's default zipfian constant. */
#define OB_ZIPF_THETA 0.99

typedef enum ob_dist { OB_DIST_UNIFORM, OB_DIST_ZIPFIAN } ob_dist;

typedef struct ob_keygen {
	ob_dist dist;
	uint64_t n;     /* items: keys 0..n-1 */
	double theta;   /* zipfian only */
	double alpha;   /* 1 / (1 - theta) */
	double zetan;   /* zeta(n, theta) */
	double eta;
	double half_pow_theta; /* 0.5^theta */
} ob_keygen;

/**
 * ob_keygen_init - prepare a chooser of keys 0..@n-1.
 * @theta: zipfian constant in (0, 1) (ignored for uniform).
 * Returns 0, or -1 if @n is 0 or theta is out of range. Allocates nothing.
 */
int ob_keygen_init(ob_keygen *g, ob_dist dist, uint64_t n, double theta);

/** ob_keygen_next - draw a key in 0..n-1 using (and advancing) the caller's @rng state. */
uint64_t ob_keygen_next(const ob_keygen *g, uint64_t *rng);

/** ob_zipf_rank - the unscrambled zipfian rank (0 = hottest) for uniform @u in [0, 1). */
uint64_t ob_zipf_rank(const ob_keygen *g, double u);

/** ob_rng_next - xorshift64* step: 64 random bits; @s must not be 0. */
uint64_t ob_rng_next(uint64_t *s);

/** ob_rng_unit - a uniform double in [0, 1) from @s. */
double ob_rng_unit(uint64_t *s);

#endif /* OB_ZIPF_H */

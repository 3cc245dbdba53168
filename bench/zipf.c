/*
 * zipf.c - uniform and zipfian key choice (see zipf.h for the method and its source).
 *
 * Gray et al.'s inversion: with zetan = sum_{i=1..n} 1/i^theta, alpha = 1/(1-theta) and
 * eta = (1 - (2/n)^(1-theta)) / (1 - zeta(2)/zetan), a uniform u gives rank 0 when
 * u*zetan < 1, rank 1 when u*zetan < 1 + 0.5^theta, and otherwise
 * floor(n * (eta*u - eta + 1)^alpha). The rank is scrambled by FNV-1a 64 mod n, as YCSB's
 * ScrambledZipfianGenerator does.
 */
#include "zipf.h"

#include <math.h>

uint64_t ob_rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

double ob_rng_unit(uint64_t *s)
{
	return (double)(ob_rng_next(s) >> 11) * (1.0 / 9007199254740992.0); /* 53 bits */
}

static double zeta(uint64_t n, double theta)
{
	double sum = 0.0;
	for (uint64_t i = 1; i <= n; i++)
		sum += 1.0 / pow((double)i, theta);
	return sum;
}

static uint64_t fnv1a64(uint64_t v)
{
	uint64_t h = 0xCBF29CE484222325ULL;
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xFFu;
		h *= 0x100000001B3ULL;
	}
	return h;
}

int ob_keygen_init(ob_keygen *g, ob_dist dist, uint64_t n, double theta)
{
	if (n == 0 || (dist == OB_DIST_ZIPFIAN && !(theta > 0.0 && theta < 1.0)))
		return -1;
	*g = (ob_keygen){.dist = dist, .n = n, .theta = theta};
	if (dist == OB_DIST_UNIFORM)
		return 0;
	g->alpha = 1.0 / (1.0 - theta);
	g->zetan = zeta(n, theta);
	double zeta2 = zeta(2, theta);
	g->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / g->zetan);
	g->half_pow_theta = pow(0.5, theta);
	return 0;
}

uint64_t ob_zipf_rank(const ob_keygen *g, double u)
{
	double uz = u * g->zetan;
	if (uz < 1.0)
		return 0;
	if (uz < 1.0 + g->half_pow_theta)
		return g->n > 1 ? 1 : 0;
	uint64_t r = (uint64_t)((double)g->n * pow(g->eta * u - g->eta + 1.0, g->alpha));
	return r < g->n ? r : g->n - 1;
}

uint64_t ob_keygen_next(const ob_keygen *g, uint64_t *rng)
{
	if (g->dist == OB_DIST_UNIFORM)
		return ob_rng_next(rng) % g->n;
	return fnv1a64(ob_zipf_rank(g, ob_rng_unit(rng))) % g->n;
}

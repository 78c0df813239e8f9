/* plan_sets.c - the planner's two small containers: a leveled set (members
 * bucketed by count, each bucket a bitset) and an open-addressing set of
 * (host, port) pairs.  See plan_int.h. */
#include "plan_int.h"

#include <string.h>

#include "util.h"

/* ---- leveled set ------------------------------------------------------------
 * Members 0..n-1, each with a count; members with equal counts share one
 * bitset.  find() scans the lowest non-empty level from a preferred member,
 * cyclically, and offers each candidate to a callback until one is accepted. */



static void level_set(struct lset *s, uint32_t c, uint32_t m)
{
	if (c >= s->nlv) {
		size_t old = s->nlv;

		s->lv = xgrow(s->lv, &s->nlv, (size_t)c + 1, sizeof *s->lv);
		memset(s->lv + old, 0, (s->nlv - old) * sizeof *s->lv);
	}
	struct level *l = &s->lv[c];
	if (!l->bits)
		l->bits = xcalloc(s->words, sizeof *l->bits);
	l->bits[m / 64] |= 1ULL << (m % 64);
	l->pop++;
	if (s->live == 0 || c < s->lo)
		s->lo = c;
	if (s->live == 0 || c > s->hi)
		s->hi = c;
}

static void level_clear(struct lset *s, uint32_t c, uint32_t m)
{
	struct level *l = &s->lv[c];

	l->bits[m / 64] &= ~(1ULL << (m % 64));
	if (--l->pop == 0) {
		free(l->bits);
		l->bits = NULL;
	}
}

/* All members start at the count given by cnt0 (NULL: 0). */
void lset_init(struct lset *s, uint32_t n, const uint32_t *cnt0)
{
	memset(s, 0, sizeof *s);
	s->n = n;
	s->words = (n + 63) / 64;
	s->cnt = xcalloc(n, sizeof *s->cnt);
	for (uint32_t m = 0; m < n; m++) {
		s->cnt[m] = cnt0 ? cnt0[m] : 0;
		level_set(s, s->cnt[m], m);
		s->live++;
	}
}

void lset_free(struct lset *s)
{
	for (size_t c = 0; c < s->nlv; c++)
		free(s->lv[c].bits);
	free(s->lv);
	free(s->cnt);
	memset(s, 0, sizeof *s);
}

void lset_remove(struct lset *s, uint32_t m)
{
	if (s->cnt[m] == NONE)
		return;
	level_clear(s, s->cnt[m], m);
	s->cnt[m] = NONE;
	s->live--;
}

void lset_bump(struct lset *s, uint32_t m)
{
	uint32_t c = s->cnt[m];

	if (c == NONE)
		return;
	level_clear(s, c, m);
	s->live--;
	s->cnt[m] = c + 1;
	level_set(s, c + 1, m);
	s->live++;
}

/* First set bit at index >= from and < to, or NONE. */
static uint32_t next_bit(const uint64_t *bits, uint32_t from, uint32_t to)
{
	if (from >= to)
		return NONE;
	uint32_t w = from / 64;
	uint64_t word = bits[w] & (~0ULL << (from % 64));

	for (;;) {
		if (word) {
			uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(word);
			return i < to ? i : NONE;
		}
		if (++w * 64 >= to)
			return NONE;
		word = bits[w];
	}
}


/* The accepted member with the lowest count, the first at or cyclically after
 * `pref` among equals; NONE when the callback accepts none. */
uint32_t lset_find(struct lset *s, uint32_t pref, lset_try_fn try,
			  void *ctx)
{
	if (s->live == 0)
		return NONE;
	if (pref >= s->n)
		pref = 0;
	for (uint32_t c = s->lo; c <= s->hi && c < s->nlv; c++) {
		struct level *l = &s->lv[c];

		if (!l->bits) {
			if (c == s->lo)
				s->lo = c + 1;
			continue;
		}
		for (uint32_t m = next_bit(l->bits, pref, s->n); m != NONE;
		     m = next_bit(l->bits, m + 1, s->n))
			if (try(ctx, m))
				return m;
		for (uint32_t m = next_bit(l->bits, 0, pref); m != NONE;
		     m = next_bit(l->bits, m + 1, pref))
			if (try(ctx, m))
				return m;
	}
	return NONE;
}

/* ---- ports in use: open-addressing set of (host << 16 | port) ------------- */


static size_t port_slot(const struct portset *p, uint64_t k)
{
	uint64_t h = k * 0x9E3779B97F4A7C15ULL;

	return (size_t)(h >> 20) & (p->cap - 1);
}

bool portset_has(const struct portset *p, uint32_t host, int port)
{
	uint64_t k = ((uint64_t)host << 16 | (uint64_t)port) + 1;

	if (!p->cap)
		return false;
	for (size_t i = port_slot(p, k);; i = (i + 1) & (p->cap - 1)) {
		if (p->keys[i] == k)
			return true;
		if (!p->keys[i])
			return false;
	}
}


static void portset_grow(struct portset *p)
{
	struct portset np = {.cap = p->cap ? p->cap * 2 : 1024};

	np.keys = xcalloc(np.cap, sizeof *np.keys);
	for (size_t i = 0; i < p->cap; i++)
		if (p->keys[i]) {
			uint64_t k = p->keys[i];
			size_t j = port_slot(&np, k);

			while (np.keys[j])
				j = (j + 1) & (np.cap - 1);
			np.keys[j] = k;
			np.n++;
		}
	free(p->keys);
	*p = np;
}

void portset_add(struct portset *p, uint32_t host, int port)
{
	uint64_t k = ((uint64_t)host << 16 | (uint64_t)port) + 1;

	if ((p->n + 1) * 2 > p->cap)
		portset_grow(p);
	size_t i = port_slot(p, k);
	while (p->keys[i] && p->keys[i] != k)
		i = (i + 1) & (p->cap - 1);
	if (!p->keys[i]) {
		p->keys[i] = k;
		p->n++;
	}
}


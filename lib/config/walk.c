/* SPDX-License-Identifier: MIT */
/*
 * The error engine of the validator: every message names the file, the line
 * and column, the dotted key path and what was expected; a mapping's unknown
 * key gets "did you mean" the nearest known one. One walker reads every
 * mapping of known keys, so every section refuses the same things the same way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

/* ------------------------------------------------------------------------ */
/* messages */

int cfg_fail(struct cfg_ctx *c, const struct cfg_node *at, const char *fmt, ...)
{
	char msg[sizeof(c->err->msg)];
	unsigned line = at ? at->line : 1, col = at ? at->col : 1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->plen)
		return m2m_err_set(c->err, M2M_ERR_CONFIG, "%s:%u:%u: %s: %s", c->name, line, col,
				   c->path, msg);
	return m2m_err_set(c->err, M2M_ERR_CONFIG, "%s:%u:%u: %s", c->name, line, col, msg);
}

int cfg_oom(struct cfg_ctx *c)
{
	return m2m_err_set(c->err, M2M_ERR_FAILURE, "out of memory");
}

/* A node's text for a message: printable, cut short. */
const char *cfg_q(const struct cfg_node *n, char *buf, size_t len)
{
	cfg_quote(buf, len, n->str ? n->str : "", n->str ? n->len : 0, QMAX);
	return buf;
}

size_t cfg_push(struct cfg_ctx *c, const char *comp)
{
	size_t old = c->plen;
	int n = snprintf(c->path + old, sizeof(c->path) - old, "%s%s", old ? "." : "", comp);

	if (n > 0)
		c->plen = old + (size_t)n < sizeof(c->path) ? old + (size_t)n : sizeof(c->path) - 1;
	return old;
}

size_t cfg_push_node(struct cfg_ctx *c, const struct cfg_node *key)
{
	char b[QMAX * 4 + 8];

	return cfg_push(c, cfg_q(key, b, sizeof(b)));
}

size_t cfg_push_index(struct cfg_ctx *c, size_t i)
{
	size_t old = c->plen;
	int n = snprintf(c->path + old, sizeof(c->path) - old, "[%zu]", i);

	if (n > 0)
		c->plen = old + (size_t)n < sizeof(c->path) ? old + (size_t)n : sizeof(c->path) - 1;
	return old;
}

void cfg_pop(struct cfg_ctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

/* "a, b, c" (last is "or"/"and" or NULL for a plain comma list) */
void cfg_join(char *out, size_t len, const char *const *names, unsigned mask, const char *last)
{
	size_t o = 0, total = 0, i, k = 0;

	for (i = 0; names[i]; i++)
		total += (mask & BIT(i)) != 0;
	out[0] = '\0';
	for (i = 0; names[i]; i++) {
		const char *sep = "";
		int n;

		if (!(mask & BIT(i)))
			continue;
		if (k)
			sep = (last && k == total - 1) ? " " : ", ";
		n = snprintf(out + o, len - o, "%s%s%s%s", sep,
			     (last && k && k == total - 1) ? last : "",
			     (last && k && k == total - 1) ? " " : "", names[i]);
		if (n < 0 || (size_t)n >= len - o)
			return;
		o += (size_t)n;
		k++;
	}
}

unsigned cfg_all_bits(const char *const *names)
{
	unsigned m = 0;

	for (size_t i = 0; names[i]; i++)
		m |= BIT(i);
	return m;
}

static const char *what(const struct cfg_node *v, char *buf, size_t len)
{
	char t[QMAX * 4 + 8];

	if (cfg_is_null(v))
		return "no value";
	if (v->kind == CFG_SEQ)
		return "a list";
	if (v->kind == CFG_MAP)
		return "a mapping";
	snprintf(buf, len, "'%s'", cfg_q(v, t, sizeof(t)));
	return buf;
}

/* v is not of the kind expected (or an alias, which is never accepted). */
int cfg_wrong(struct cfg_ctx *c, const struct cfg_node *v, const char *expected)
{
	char b[QMAX * 4 + 16];

	if (v->kind == CFG_ALIAS)
		return cfg_fail(c, v, "alias '*%s' refused; expected the value written out (aliases are not supported)",
				cfg_q(v, b, sizeof(b)));
	return cfg_fail(c, v, "got %s; expected %s", what(v, b, sizeof(b)), expected);
}

/* ------------------------------------------------------------------------ */
/* mappings */

static int bad_key(struct cfg_ctx *c, const struct cfg_node *key, const char *expected)
{
	if (key->kind == CFG_ALIAS)
		return cfg_wrong(c, key, expected);
	return cfg_fail(c, key, "got %s as a key; expected a plain key: %s",
			key->kind == CFG_SEQ ? "a list" : "a mapping", expected);
}

static int unknown_key(struct cfg_ctx *c, const struct cfg_node *key, const char *const *names)
{
	char list[256], b[QMAX * 4 + 8], hint[64] = "";
	unsigned best = 3;
	size_t i;

	cfg_join(list, sizeof(list), names, cfg_all_bits(names), NULL);
	for (i = 0; names[i]; i++) {
		unsigned d = cfg_distance(key->str, key->len, names[i]);

		if (d < best && d < key->len) {
			best = d;
			snprintf(hint, sizeof(hint), " (did you mean '%s'?)", names[i]);
		}
	}
	return cfg_fail(c, key, "unknown key '%s'%s; expected one of %s", cfg_q(key, b, sizeof(b)),
			hint, list);
}

static int dup_key(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *first)
{
	size_t old = cfg_push_node(c, key);
	int rc = cfg_fail(c, key, "duplicate key (first at line %u); expected each key once",
			  first->line);

	cfg_pop(c, old);
	return rc;
}

bool cfg_key_is(const struct cfg_node *key, const char *name)
{
	return key->kind == CFG_SCALAR && key->len == strlen(name) &&
	       memcmp(key->str, name, key->len) == 0;
}

/*
 * Accept a mapping (or, if null_ok, no value at all: an empty section).
 * *is_map tells which.
 */
int cfg_want_map(struct cfg_ctx *c, const struct cfg_node *v, bool null_ok, const char *expected,
		 bool *is_map)
{
	*is_map = v->kind == CFG_MAP;
	if (*is_map || (null_ok && cfg_is_null(v)))
		return M2M_OK;
	return cfg_wrong(c, v, expected);
}

/*
 * Walk a mapping of known keys in document order: refuse unknown, complex
 * and duplicate keys, and call fn for each value with the key on the path.
 * seen[k] is the key node of names[k], or NULL if absent.
 */
int cfg_walk(struct cfg_ctx *c, const struct cfg_node *map, const char *const *names,
	     const struct cfg_node **seen, cfg_key_fn fn, void *obj)
{
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct cfg_node *key = map->kids[i], *val = map->kids[i + 1];
		size_t old;
		int k, rc;

		if (key->kind != CFG_SCALAR) {
			char list[256];

			cfg_join(list, sizeof(list), names, cfg_all_bits(names), NULL);
			return bad_key(c, key, list);
		}
		for (k = 0; names[k]; k++)
			if (cfg_key_is(key, names[k]))
				break;
		if (!names[k])
			return unknown_key(c, key, names);
		if (seen[k])
			return dup_key(c, key, seen[k]);
		seen[k] = key;
		old = cfg_push(c, names[k]);
		rc = fn(c, k, key, val, obj);
		cfg_pop(c, old);
		if (rc)
			return rc;
	}
	return M2M_OK;
}

int cfg_missing(struct cfg_ctx *c, const struct cfg_node *owner, const char *name,
		const char *expected)
{
	size_t old = cfg_push(c, name);
	int rc = cfg_fail(c, owner, "missing; expected %s", expected);

	cfg_pop(c, old);
	return rc;
}

static int cmp_keys(const void *a, const void *b)
{
	const struct cfg_node *x = *(const struct cfg_node *const *)a;
	const struct cfg_node *y = *(const struct cfg_node *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int r = memcmp(x->str, y->str, n);

	if (r)
		return r;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->col < y->col ? -1 : x->col > y->col;
}

static bool before(const struct cfg_node *a, const struct cfg_node *b)
{
	return a->line < b->line || (a->line == b->line && a->col < b->col);
}

static bool same_key(const struct cfg_node *a, const struct cfg_node *b)
{
	return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
}

/*
 * Keys of a mapping whose keys are not known in advance (profile names, the
 * reserved sections): all plain scalars, none twice. Sorting keeps this
 * O(n log n) for the largest file we accept.
 */
int cfg_check_keys(struct cfg_ctx *c, const struct cfg_node *map, const char *expected)
{
	const struct cfg_node **k, *dup = NULL, *first = NULL;
	size_t n = map->n / 2, i, start = 0;

	for (i = 0; i < n; i++)
		if (map->kids[2 * i]->kind != CFG_SCALAR)
			return bad_key(c, map->kids[2 * i], expected);
	if (n < 2)
		return M2M_OK;
	k = malloc(n * sizeof(*k));
	if (!k)
		return cfg_oom(c);
	for (i = 0; i < n; i++)
		k[i] = map->kids[2 * i];
	/* equal keys end up together, each group in file order */
	qsort(k, n, sizeof(*k), cmp_keys);
	for (i = 1; i < n; i++) {
		if (!same_key(k[i], k[i - 1])) {
			start = i;
			continue;
		}
		/* report the repetition that comes first in the file */
		if (i == start + 1 && (!dup || before(k[i], dup))) {
			dup = k[i];
			first = k[start];
		}
	}
	free(k);
	if (dup)
		return dup_key(c, dup, first);
	return M2M_OK;
}


/* A section (or part of one) that is a mapping of known keys, or empty. */
int cfg_sub_section(struct cfg_ctx *c, const struct cfg_node *v, const char *expected,
		    const char *const *names, cfg_key_fn fn, void *obj)
{
	const struct cfg_node *seen[8] = { NULL }; /* >= the keys of any section */
	bool is_map;
	int rc = cfg_want_map(c, v, true, expected, &is_map);

	if (rc || !is_map)
		return rc;
	return cfg_walk(c, v, names, seen, fn, obj);
}

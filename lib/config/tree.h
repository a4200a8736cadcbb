/* SPDX-License-Identifier: MIT */
/*
 * Internal to the config module: a small YAML node tree built from libyaml's
 * event stream, with every node's position, and the value syntax checks the
 * validator uses. Aliases are kept as leaves (never expanded) so the
 * validator can refuse them with a key path; nesting, node count and input
 * size are bounded.
 */
#ifndef M2M_CONFIG_TREE_H
#define M2M_CONFIG_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "m2m/m2m.h"

#define CFG_MAX_BYTES (1024 * 1024)
#define CFG_MAX_DEPTH 32
#define CFG_MAX_NODES 100000

enum cfg_kind {
	CFG_SCALAR,
	CFG_SEQ,
	CFG_MAP,
	CFG_ALIAS, /* str: the anchor name */
};

struct cfg_node {
	enum cfg_kind kind;
	unsigned line, col;      /* 1-based */
	bool plain;              /* scalar written without quotes or tag */
	char *str;               /* scalar text (NUL-terminated, may hold NULs) */
	size_t len;
	struct cfg_node **kids;  /* SEQ: items; MAP: key, value, key, value, ... */
	size_t n;                /* number of kids (MAP: twice the pairs) */
	size_t cap;
};

/*
 * Parse buf into a tree. *root is NULL for a stream without a document (an
 * empty file or only comments). Syntax errors, a second document, nesting
 * deeper than CFG_MAX_DEPTH and more than CFG_MAX_NODES nodes are
 * M2M_ERR_CONFIG with "name:line:column: ..." in err.
 */
int cfg_tree_parse(const char *name, const char *buf, size_t len, struct cfg_node **root,
		   struct m2m_err *err);
void cfg_tree_free(struct cfg_node *n);

/* A plain scalar meaning null: empty, ~, null. */
bool cfg_is_null(const struct cfg_node *n);

/*
 * Copy s (len bytes) to out for a one-line message: control and non-ASCII
 * bytes become \xNN, and text past max visible characters becomes "...".
 */
void cfg_quote(char *out, size_t outlen, const char *s, size_t len, size_t max);

/* Value syntax. Each returns NULL if s is valid, else what is wrong. */

/* "65536", "64KiB", "1MiB" (B, KiB, MiB; none: bytes) up to max; NULL or why not */
const char *cfg_parse_size(const char *s, uint64_t max, uint64_t *out);
/* true/false/yes/no in any letter case */
const char *cfg_parse_bool(const char *s, bool *b);
/*
 * IPv4 or IPv6 prefix "address/length" without host bits. If the only fault
 * is host bits set, net (if not NULL) receives the prefix they belong to.
 */
const char *cfg_check_cidr(const char *s, char *net, size_t netlen);
/* IPv4 or IPv6 address, or a DNS name */
const char *cfg_check_host(const char *s);
/* Optimal string alignment distance, ASCII case-insensitive, capped at 3. */
unsigned cfg_distance(const char *a, size_t alen, const char *b);
/* Format ms as the largest exact unit: "90s", "5m", "250ms". */
void cfg_format_duration(char *out, size_t len, unsigned ms);

#endif

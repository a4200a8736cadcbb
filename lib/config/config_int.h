/* SPDX-License-Identifier: MIT */
/*
 * Internal to the config module: what its files share. The validator walks
 * the node tree (tree.h) once; every error goes through cfg_fail(), which
 * gives it the one form "FILE:LINE:COLUMN: dotted.key.path: what is wrong;
 * expected what" (walk.c). The value getters (scalars.c) read one typed
 * value each. Each top-level section of m2m.yaml(5) is a file (vpn.c, dm.c, update.c)
 * and a row of the section table in config.c.
 */
#ifndef M2M_CONFIG_INT_H
#define M2M_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/tree.h"
#include "m2m/config.h"
#include "m2m/m2m.h"

#define BIT(n) (1u << (n))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define QMAX 48 /* characters of a value shown in a message */

struct cfg_ctx {
	char name[256];         /* file name, printable */
	const char *base;       /* absolute directory for relative paths, or NULL */
	struct m2m_err *err;
	char path[320];         /* dotted key path of the value at hand */
	size_t plen;
	const struct cfg_node *profiles; /* the vpn.profiles mapping (vpn.c's finish needs it) */
	const struct cfg_node *update_profiles; /* update.health.profiles (update.c's finish) */
	const struct cfg_node *update_dm;       /* update.health.dm, if given */
};

/* A key handler of a mapping: k indexes the mapping's key list. */
typedef int (*cfg_key_fn)(struct cfg_ctx *c, int k, const struct cfg_node *key,
			  const struct cfg_node *val, void *obj);

/*
 * A top-level section of m2m.yaml(5). A new section is a file with these
 * functions and a row in config.c's table (whose order is the order of the
 * "expected one of" list).
 *   parse   the section's value (key: its key node, for "missing" messages)
 *   finish  after every section was read: defaults taken from other
 *           sections (key: the section's key node, NULL if it is absent)
 *   free    what parse put into cfg
 */
struct cfg_section {
	const char *name;
	int (*parse)(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		     struct m2m_config *cfg);
	int (*finish)(struct cfg_ctx *c, const struct cfg_node *key, struct m2m_config *cfg);
	void (*free)(struct m2m_config *cfg);
};

/*
 * Parse and validate buf (len bytes) into *out; name is used in messages,
 * base (absolute, or NULL) is the directory relative paths are taken from.
 */
int cfg_parse_in(const char *name, const char *base, const char *buf, size_t len,
		 struct m2m_config **out, struct m2m_err *err);

/* the sections (vpn.c, dm.c) */
int cfg_vpn_parse(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		  struct m2m_config *cfg);
int cfg_vpn_finish(struct cfg_ctx *c, const struct cfg_node *key, struct m2m_config *cfg);
void cfg_vpn_free(struct m2m_config *cfg);
int cfg_dm_parse(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		 struct m2m_config *cfg);
int cfg_dm_finish(struct cfg_ctx *c, const struct cfg_node *key, struct m2m_config *cfg);
void cfg_dm_free(struct m2m_config *cfg);
int cfg_update_parse(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		     struct m2m_config *cfg);
int cfg_update_finish(struct cfg_ctx *c, const struct cfg_node *key, struct m2m_config *cfg);
void cfg_update_free(struct m2m_config *cfg);
int cfg_policy_parse(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		     struct m2m_config *cfg);
void cfg_policy_free(struct m2m_config *cfg);
/* a profile's enroll: mapping (enroll.c), called by vpn.c */
int cfg_enroll_parse(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		     struct m2m_enroll_config **out);
void cfg_enroll_free(struct m2m_enroll_config *e);

/* messages and the key path (walk.c) */
int cfg_fail(struct cfg_ctx *c, const struct cfg_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int cfg_oom(struct cfg_ctx *c);
/* A node's text for a message: printable, cut short. */
const char *cfg_q(const struct cfg_node *n, char *buf, size_t len);
/* Append a component to the key path; cfg_pop() with the result restores it. */
size_t cfg_push(struct cfg_ctx *c, const char *comp);
size_t cfg_push_node(struct cfg_ctx *c, const struct cfg_node *key);
size_t cfg_push_index(struct cfg_ctx *c, size_t i);
void cfg_pop(struct cfg_ctx *c, size_t old);
/* "a, b, c" of the names in mask (last: "or"/"and" before the last one, or NULL) */
void cfg_join(char *out, size_t len, const char *const *names, unsigned mask, const char *last);
unsigned cfg_all_bits(const char *const *names);
/* v is not of the kind expected (or an alias, which is never accepted). */
int cfg_wrong(struct cfg_ctx *c, const struct cfg_node *v, const char *expected);
int cfg_missing(struct cfg_ctx *c, const struct cfg_node *owner, const char *name,
		const char *expected);

/* mappings (walk.c) */
bool cfg_key_is(const struct cfg_node *key, const char *name);
/* A mapping (or, if null_ok, no value at all: an empty section); *is_map tells which. */
int cfg_want_map(struct cfg_ctx *c, const struct cfg_node *v, bool null_ok, const char *expected,
		 bool *is_map);
/*
 * Walk a mapping of known keys (names, NULL-terminated) in document order:
 * refuse unknown, complex and duplicate keys, and call fn for each value
 * with the key on the path. seen[k] is the key node of names[k], or NULL.
 */
int cfg_walk(struct cfg_ctx *c, const struct cfg_node *map, const char *const *names,
	     const struct cfg_node **seen, cfg_key_fn fn, void *obj);
/* A mapping of at most 8 known keys, or no value (an empty section): cfg_walk() over it. */
int cfg_sub_section(struct cfg_ctx *c, const struct cfg_node *v, const char *expected,
		    const char *const *names, cfg_key_fn fn, void *obj);
/* Keys not known in advance (profile names): all plain scalars, none twice. */
int cfg_check_keys(struct cfg_ctx *c, const struct cfg_node *map, const char *expected);

/* typed values (scalars.c) */
struct cfg_vtype {
	const char *noun;     /* "invalid NOUN 'x'" */
	const char *expected; /* "expected EXPECTED" */
	/* NULL if s is fine, else what is wrong; may put a better expectation in hint */
	const char *(*check)(const char *s, char *hint, size_t hintlen);
	bool path;            /* a file: relative to the config file's directory */
};

extern const struct cfg_vtype cfg_vt_text, cfg_vt_id, cfg_vt_host, cfg_vt_cidr,
	cfg_vt_proposal, cfg_vt_file, cfg_vt_absdir, cfg_vt_vici, cfg_vt_module, cfg_vt_hexid,
	cfg_vt_tcti, cfg_vt_cred;

struct cfg_choice {
	const char *name;
	int value;
};

/* The text of a scalar: non-empty, no control characters, a sane length. */
int cfg_text(struct cfg_ctx *c, const struct cfg_node *v, const char *expected, const char **out);
int cfg_get_str(struct cfg_ctx *c, const struct cfg_node *v, const struct cfg_vtype *t,
		char **out);
/* A string or a list of strings, into a NULL-terminated array. */
void cfg_free_list(char **l);
int cfg_get_list(struct cfg_ctx *c, const struct cfg_node *v, const struct cfg_vtype *t,
		 char ***out);
int cfg_get_bool(struct cfg_ctx *c, const struct cfg_node *v, bool *out);
int cfg_get_duration(struct cfg_ctx *c, const struct cfg_node *v, bool nonzero, unsigned *out);
int cfg_get_size(struct cfg_ctx *c, const struct cfg_node *v, uint64_t min, uint64_t max,
		 size_t *out);
int cfg_get_enum(struct cfg_ctx *c, const struct cfg_node *v, const struct cfg_choice *ch,
		 size_t n, int *out);
/* Where a secret comes from: {file|fd|credential|prompt: ...}, never the secret. */
int cfg_get_pin(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		struct m2m_secret_ref *ref);
/* A TPM persistent handle of the owner, hex. */
int cfg_get_handle(struct cfg_ctx *c, const struct cfg_node *v, uint32_t *out);
int cfg_get_nv_index(struct cfg_ctx *c, const struct cfg_node *v, uint32_t *out);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The configuration module: find, load (refusing files others can change),
 * parse and validate m2m.yaml into struct m2m_config. One validator walks the
 * node tree once; the first error stops it with a one-line message
 * "FILE:LINE:COLUMN: dotted.key.path: what is wrong; expected what".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/config.h"
#include "config/tree.h"

#define BIT(n) (1u << (n))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define QMAX 48 /* characters of a value shown in a message */

struct ctx {
	char name[256];         /* file name, printable */
	const char *base;       /* absolute directory for relative paths, or NULL */
	struct m2m_err *err;
	char path[320];         /* dotted key path of the value at hand */
	size_t plen;
	const struct cfg_node *profiles; /* the vpn.profiles mapping */
};

/* A key handler of a mapping: k indexes the mapping's key list. */
typedef int (*key_fn)(struct ctx *c, int k, const struct cfg_node *key,
		      const struct cfg_node *val, void *obj);

/* ------------------------------------------------------------------------ */
/* messages */

static int fail(struct ctx *c, const struct cfg_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, const struct cfg_node *at, const char *fmt, ...)
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

static int oom(struct ctx *c)
{
	return m2m_err_set(c->err, M2M_ERR_FAILURE, "out of memory");
}

/* A node's text for a message: printable, cut short. */
static const char *q(const struct cfg_node *n, char *buf, size_t len)
{
	cfg_quote(buf, len, n->str ? n->str : "", n->str ? n->len : 0, QMAX);
	return buf;
}

static size_t push(struct ctx *c, const char *comp)
{
	size_t old = c->plen;
	int n = snprintf(c->path + old, sizeof(c->path) - old, "%s%s", old ? "." : "", comp);

	if (n > 0)
		c->plen = old + (size_t)n < sizeof(c->path) ? old + (size_t)n : sizeof(c->path) - 1;
	return old;
}

static size_t push_node(struct ctx *c, const struct cfg_node *key)
{
	char b[QMAX * 4 + 8];

	return push(c, q(key, b, sizeof(b)));
}

static size_t push_index(struct ctx *c, size_t i)
{
	size_t old = c->plen;
	int n = snprintf(c->path + old, sizeof(c->path) - old, "[%zu]", i);

	if (n > 0)
		c->plen = old + (size_t)n < sizeof(c->path) ? old + (size_t)n : sizeof(c->path) - 1;
	return old;
}

static void pop(struct ctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

/* "a, b, c" (last is "or"/"and" or NULL for a plain comma list) */
static void join(char *out, size_t len, const char *const *names, unsigned mask, const char *last)
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

static unsigned all_bits(const char *const *names)
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
	snprintf(buf, len, "'%s'", q(v, t, sizeof(t)));
	return buf;
}

/* v is not of the kind expected (or an alias, which is never accepted). */
static int wrong(struct ctx *c, const struct cfg_node *v, const char *expected)
{
	char b[QMAX * 4 + 16];

	if (v->kind == CFG_ALIAS)
		return fail(c, v, "alias '*%s' refused; expected the value written out (aliases are not supported)",
			    q(v, b, sizeof(b)));
	return fail(c, v, "got %s; expected %s", what(v, b, sizeof(b)), expected);
}

/* ------------------------------------------------------------------------ */
/* mappings */

static int bad_key(struct ctx *c, const struct cfg_node *key, const char *expected)
{
	if (key->kind == CFG_ALIAS)
		return wrong(c, key, expected);
	return fail(c, key, "got %s as a key; expected a plain key: %s",
		    key->kind == CFG_SEQ ? "a list" : "a mapping", expected);
}

static int unknown_key(struct ctx *c, const struct cfg_node *key, const char *const *names)
{
	char list[256], b[QMAX * 4 + 8], hint[64] = "";
	unsigned best = 3;
	size_t i;

	join(list, sizeof(list), names, all_bits(names), NULL);
	for (i = 0; names[i]; i++) {
		unsigned d = cfg_distance(key->str, key->len, names[i]);

		if (d < best && d < key->len) {
			best = d;
			snprintf(hint, sizeof(hint), " (did you mean '%s'?)", names[i]);
		}
	}
	return fail(c, key, "unknown key '%s'%s; expected one of %s", q(key, b, sizeof(b)), hint,
		    list);
}

static int dup_key(struct ctx *c, const struct cfg_node *key, const struct cfg_node *first)
{
	size_t old = push_node(c, key);
	int rc = fail(c, key, "duplicate key (first at line %u); expected each key once",
		      first->line);

	pop(c, old);
	return rc;
}

static bool key_is(const struct cfg_node *key, const char *name)
{
	return key->kind == CFG_SCALAR && key->len == strlen(name) &&
	       memcmp(key->str, name, key->len) == 0;
}

/*
 * Accept a mapping (or, if null_ok, no value at all: an empty section).
 * *is_map tells which.
 */
static int want_map(struct ctx *c, const struct cfg_node *v, bool null_ok, const char *expected,
		    bool *is_map)
{
	*is_map = v->kind == CFG_MAP;
	if (*is_map || (null_ok && cfg_is_null(v)))
		return M2M_OK;
	return wrong(c, v, expected);
}

/*
 * Walk a mapping of known keys in document order: refuse unknown, complex
 * and duplicate keys, and call fn for each value with the key on the path.
 * seen[k] is the key node of names[k], or NULL if absent.
 */
static int walk(struct ctx *c, const struct cfg_node *map, const char *const *names,
		const struct cfg_node **seen, key_fn fn, void *obj)
{
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct cfg_node *key = map->kids[i], *val = map->kids[i + 1];
		size_t old;
		int k, rc;

		if (key->kind != CFG_SCALAR) {
			char list[256];

			join(list, sizeof(list), names, all_bits(names), NULL);
			return bad_key(c, key, list);
		}
		for (k = 0; names[k]; k++)
			if (key_is(key, names[k]))
				break;
		if (!names[k])
			return unknown_key(c, key, names);
		if (seen[k])
			return dup_key(c, key, seen[k]);
		seen[k] = key;
		old = push(c, names[k]);
		rc = fn(c, k, key, val, obj);
		pop(c, old);
		if (rc)
			return rc;
	}
	return M2M_OK;
}

static int missing(struct ctx *c, const struct cfg_node *owner, const char *name,
		   const char *expected)
{
	size_t old = push(c, name);
	int rc = fail(c, owner, "missing; expected %s", expected);

	pop(c, old);
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
static int check_keys(struct ctx *c, const struct cfg_node *map, const char *expected)
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
		return oom(c);
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

/* ------------------------------------------------------------------------ */
/* scalars */

struct vtype {
	const char *noun;     /* "invalid NOUN 'x'" */
	const char *expected; /* "expected EXPECTED" */
	/* NULL if s is fine, else what is wrong; may put a better expectation in hint */
	const char *(*check)(const char *s, char *hint, size_t hintlen);
	bool path;            /* a file: relative to the config file's directory */
};

static const char *check_host(const char *s, char *hint, size_t len)
{
	return cfg_check_host(s);
}

static const char *check_cidr(const char *s, char *hint, size_t len)
{
	return cfg_check_cidr(s, hint, len);
}

static const char *check_proposal(const char *s, char *hint, size_t len)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return "only letters, digits, - and _ are allowed";
	return NULL;
}

static const char *check_absolute(const char *s, char *hint, size_t len)
{
	return s[0] == '/' ? NULL : "not absolute";
}

static const char *check_vici(const char *s, char *hint, size_t len)
{
	const char *p = strncmp(s, "unix://", 7) == 0 ? s + 7 : s;

	if (p[0] != '/')
		return p == s ? "neither unix:// nor an absolute path" : "the socket path is not absolute";
	/* sizeof(struct sockaddr_un.sun_path) on Linux */
	if (strlen(p) >= 108)
		return "the socket path is longer than 107 bytes";
	return NULL;
}

static const char *check_credential(const char *s, char *hint, size_t len)
{
	return m2m_credential_name_invalid(s);
}

static const char *check_hex_id(const char *s, char *hint, size_t len)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return "not hex";
	if (n % 2)
		return "an odd number of hex digits";
	if (n > 128)
		return "longer than 64 bytes";
	return NULL;
}

static const char *check_tcti(const char *s, char *hint, size_t len)
{
	for (const char *p = s; *p; p++)
		if (*p == ' ' || *p == '"' || *p == '\\')
			return "spaces, quotes and backslashes are not allowed";
	if (!m2m_tcti_allowed(s))
		return "not device[:/dev/tpm...], tabrmd, mssim or swtpm";
	return NULL;
}

static const struct vtype T_TEXT = { "string", "a string", NULL, false };
static const struct vtype T_ID = { "identity", "an IKE identity (a string)", NULL, false };
static const struct vtype T_HOST = { "address or DNS name",
				     "an IPv4 or IPv6 address or a DNS name", check_host, false };
static const struct vtype T_CIDR = { "CIDR prefix",
				     "an IPv4 or IPv6 prefix such as 10.1.0.0/16 or fd00:1::/64",
				     check_cidr, false };
static const struct vtype T_PROPOSAL = { "proposal",
					 "a strongSwan proposal such as aes256gcm16-prfsha256-ecp256",
					 check_proposal, false };
static const struct vtype T_FILE = { "path", "a file path", NULL, true };
static const struct vtype T_ABSDIR = { "path", "an absolute directory path", check_absolute,
				       false };
static const struct vtype T_VICI = { "VICI URI", "unix:///path/to/socket or /path/to/socket",
				     check_vici, false };
static const struct vtype T_MODULE = { "path", "the absolute path of a PKCS#11 module (.so)",
				       check_absolute, false };
static const struct vtype T_HEXID = { "key id", "the key's CKA_ID in hex, such as 01",
				      check_hex_id, false };
static const struct vtype T_TCTI = { "TCTI", "a TCTI such as device:/dev/tpmrm0 or tabrmd:bus_type=session",
				     check_tcti, false };
static const struct vtype T_CRED = { "credential name", "a systemd credential name",
				     check_credential, false };

/* The text of a scalar: non-empty, no control characters, a sane length. */
static int text(struct ctx *c, const struct cfg_node *v, const char *expected, const char **out)
{
	char b[QMAX * 4 + 8];

	if (v->kind != CFG_SCALAR || cfg_is_null(v))
		return wrong(c, v, expected);
	if (v->len == 0)
		return fail(c, v, "empty string; expected %s", expected);
	for (size_t i = 0; i < v->len; i++) {
		unsigned char ch = (unsigned char)v->str[i];

		if (ch < 0x20 || ch == 0x7f)
			return fail(c, v, "control character in '%s'; expected %s",
				    q(v, b, sizeof(b)), expected);
	}
	if (v->len >= PATH_MAX)
		return fail(c, v, "longer than %d bytes; expected %s", PATH_MAX - 1, expected);
	*out = v->str;
	return M2M_OK;
}

/* A relative file name, made absolute against the config file's directory. */
static int resolve(struct ctx *c, const struct cfg_node *v, const char *s, char **out)
{
	size_t n;

	if (s[0] == '/') {
		*out = strdup(s);
		return *out ? M2M_OK : oom(c);
	}
	if (!c->base)
		return fail(c, v, "relative path, but the configuration's directory is unknown; expected an absolute path");
	while (s[0] == '.' && s[1] == '/') {
		s += 2;
		while (*s == '/')
			s++;
	}
	n = strlen(c->base) + 1 + strlen(s) + 1;
	if (n > PATH_MAX)
		return fail(c, v, "path too long once made absolute; expected at most %d bytes",
			    PATH_MAX - 1);
	*out = malloc(n);
	if (!*out)
		return oom(c);
	snprintf(*out, n, "%s%s%s", c->base, strcmp(c->base, "/") ? "/" : "", s);
	return M2M_OK;
}

static int one(struct ctx *c, const struct cfg_node *v, const struct vtype *t,
	       const char *expected, char **out)
{
	char b[QMAX * 4 + 8], hint[128] = "";
	const char *s, *why;
	int rc;

	rc = text(c, v, expected, &s);
	if (rc)
		return rc;
	why = t->check ? t->check(s, hint, sizeof(hint)) : NULL;
	if (why)
		return fail(c, v, "invalid %s '%s' (%s); expected %s", t->noun, q(v, b, sizeof(b)),
			    why, hint[0] ? hint : t->expected);
	if (t->path)
		return resolve(c, v, s, out);
	*out = strdup(s);
	return *out ? M2M_OK : oom(c);
}

static int get_str(struct ctx *c, const struct cfg_node *v, const struct vtype *t, char **out)
{
	return one(c, v, t, t->expected, out);
}

/* A string or a list of strings, into a NULL-terminated array. */
static int get_list(struct ctx *c, const struct cfg_node *v, const struct vtype *t, char ***out)
{
	char expected[192];
	size_t n, i;
	char **l;
	int rc = M2M_OK;

	snprintf(expected, sizeof(expected), "%s, or a list of them", t->expected);
	if (v->kind == CFG_SCALAR && !cfg_is_null(v)) {
		l = calloc(2, sizeof(*l));
		if (!l)
			return oom(c);
		rc = one(c, v, t, expected, &l[0]);
		if (rc) {
			free(l);
			return rc;
		}
		*out = l;
		return M2M_OK;
	}
	if (v->kind != CFG_SEQ)
		return wrong(c, v, expected);
	if (v->n == 0)
		return fail(c, v, "empty list; expected at least one: %s", t->expected);
	n = v->n;
	l = calloc(n + 1, sizeof(*l));
	if (!l)
		return oom(c);
	for (i = 0; i < n && !rc; i++) {
		size_t old = push_index(c, i);

		rc = one(c, v->kids[i], t, t->expected, &l[i]);
		pop(c, old);
	}
	if (rc) {
		for (i = 0; i < n; i++)
			free(l[i]);
		free(l);
		return rc;
	}
	*out = l;
	return M2M_OK;
}

static int get_bool(struct ctx *c, const struct cfg_node *v, bool *out)
{
	static const char expected[] = "true, false, yes or no";
	char b[QMAX * 4 + 8];
	const char *s;
	int rc = text(c, v, expected, &s);

	if (rc)
		return rc;
	if (cfg_parse_bool(s, out))
		return fail(c, v, "invalid boolean '%s'; expected %s", q(v, b, sizeof(b)), expected);
	return M2M_OK;
}

static int get_duration(struct ctx *c, const struct cfg_node *v, bool nonzero, unsigned *out)
{
	static const char expected[] =
		"a whole number with unit ms, s, m or h (none: seconds), at most 24h";
	char b[QMAX * 4 + 8];
	const char *s, *why;
	int rc = text(c, v, expected, &s);

	if (rc)
		return rc;
	why = cfg_parse_duration(s, out);
	if (!why && nonzero && *out == 0)
		why = "zero";
	if (why)
		return fail(c, v, "invalid duration '%s' (%s); expected %s%s", q(v, b, sizeof(b)),
			    why, nonzero ? "more than 0, " : "", expected);
	return M2M_OK;
}

static int get_size(struct ctx *c, const struct cfg_node *v, uint64_t min, uint64_t max,
		    size_t *out)
{
	static const char expected[] = "a whole number of bytes, with unit B, KiB or MiB";
	char b[QMAX * 4 + 8];
	const char *s, *why;
	uint64_t n = 0;
	int rc = text(c, v, expected, &s);

	if (rc)
		return rc;
	why = cfg_parse_size(s, max, &n);
	if (!why && n < min)
		why = "too small";
	if (why)
		return fail(c, v, "invalid size '%s' (%s); expected %s, from %llu to %llu bytes",
			    q(v, b, sizeof(b)), why, expected, (unsigned long long)min,
			    (unsigned long long)max);
	*out = (size_t)n;
	return M2M_OK;
}

struct choice {
	const char *name;
	int value;
};

static int get_enum(struct ctx *c, const struct cfg_node *v, const struct choice *ch, size_t n,
		    int *out)
{
	const char *names[8] = { NULL }, *s;
	char expected[192], b[QMAX * 4 + 8];
	int rc;

	for (size_t i = 0; i < n && i < ARRAY_SIZE(names) - 1; i++)
		names[i] = ch[i].name;
	join(expected, sizeof(expected), names, all_bits(names), "or");
	rc = text(c, v, expected, &s);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, ch[i].name) == 0) {
			*out = ch[i].value;
			return M2M_OK;
		}
	}
	return fail(c, v, "unknown value '%s'; expected %s", q(v, b, sizeof(b)), expected);
}

/* ------------------------------------------------------------------------ */
/* vpn.profiles.NAME.auth */

enum {
	A_METHOD, A_CERT, A_KEY, A_PKCS12, A_PIN, A_MODULE, A_TOKEN, A_ID, A_TCTI, A_HANDLE,
	A_EAP_ID, A_PASSWORD, A_N
};
static const char *const auth_keys[] = {
	"method", "cert", "key", "pkcs12", "pin", "module", "token", "id", "tcti", "handle",
	"eap_id", "password", NULL
};
static const char *const auth_expected[A_N] = {
	[A_CERT] = "the path of a PEM certificate",
	[A_KEY] = "the path of a PEM private key",
	[A_PKCS12] = "the path of a PKCS#12 file",
	[A_PIN] = "where the PIN comes from (file, fd, credential or prompt)",
	[A_MODULE] = "the absolute path of the PKCS#11 module",
	[A_ID] = "the key's CKA_ID in hex, such as 01",
	[A_PASSWORD] = "where the EAP password comes from (file, fd, credential or prompt)",
};

#define A_COMMON BIT(A_METHOD)

/*
 * The authentication methods. A new method adds its keys to auth_keys and
 * a row here: which keys it needs and which it accepts.
 */
static const struct auth_method {
	const char *name;
	enum m2m_auth_method id;
	unsigned need;
	unsigned allow;
} auth_methods[] = {
	{ "cert", M2M_AUTH_CERT, BIT(A_CERT) | BIT(A_KEY),
	  A_COMMON | BIT(A_CERT) | BIT(A_KEY) | BIT(A_PIN) },
	{ "pkcs12", M2M_AUTH_PKCS12, BIT(A_PKCS12), A_COMMON | BIT(A_PKCS12) | BIT(A_PIN) },
	{ "pkcs11", M2M_AUTH_PKCS11, BIT(A_MODULE) | BIT(A_ID) | BIT(A_PIN),
	  A_COMMON | BIT(A_CERT) | BIT(A_PIN) | BIT(A_MODULE) | BIT(A_TOKEN) | BIT(A_ID) },
	{ "tpm", M2M_AUTH_TPM, BIT(A_CERT),
	  A_COMMON | BIT(A_CERT) | BIT(A_PIN) | BIT(A_TCTI) | BIT(A_HANDLE) },
	{ "machine", M2M_AUTH_MACHINE, BIT(A_CERT) | BIT(A_KEY),
	  A_COMMON | BIT(A_CERT) | BIT(A_KEY) | BIT(A_TCTI) | BIT(A_HANDLE) },
	{ "eap", M2M_AUTH_EAP, BIT(A_PASSWORD), A_COMMON | BIT(A_EAP_ID) | BIT(A_PASSWORD) },
	{ "cert+eap", M2M_AUTH_CERT_EAP, BIT(A_CERT) | BIT(A_KEY) | BIT(A_PASSWORD),
	  A_COMMON | BIT(A_CERT) | BIT(A_KEY) | BIT(A_PIN) | BIT(A_EAP_ID) | BIT(A_PASSWORD) },
};

enum { S_FILE, S_FD, S_CREDENTIAL, S_PROMPT, S_N };
static const char *const pin_keys[] = { "file", "fd", "credential", "prompt", NULL };
static const char pin_expected[] = "exactly one of file, fd, credential or prompt";

struct pin_state {
	struct m2m_secret_ref *ref;
	const struct cfg_node *first;
};

static int pin_key(struct ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		   void *obj)
{
	struct pin_state *ps = obj;
	struct m2m_secret_ref *ref = ps->ref;
	char b[QMAX * 4 + 8];
	const char *s;
	bool yes;
	int rc;

	if (ps->first) {
		char f[QMAX * 4 + 8];

		return fail(c, key, "a second source (after '%s'); expected %s",
			    q(ps->first, f, sizeof(f)), pin_expected);
	}
	ps->first = key;
	switch (k) {
	case S_FILE:
		ref->source = M2M_SECRET_FILE;
		return get_str(c, v, &T_FILE, &ref->path);
	case S_FD: {
		static const char fd_expected[] = "a file descriptor number (0 or more)";
		long n = 0;

		rc = text(c, v, fd_expected, &s);
		if (rc)
			return rc;
		for (const char *p = s; *p; p++) {
			if (*p < '0' || *p > '9' || n > INT_MAX / 10)
				return fail(c, v, "invalid file descriptor '%s'; expected %s",
					    q(v, b, sizeof(b)), fd_expected);
			n = n * 10 + (*p - '0');
		}
		if (n > INT_MAX)
			return fail(c, v, "invalid file descriptor '%s'; expected %s",
				    q(v, b, sizeof(b)), fd_expected);
		ref->source = M2M_SECRET_FD;
		ref->fd = (int)n;
		return M2M_OK;
	}
	case S_CREDENTIAL:
		ref->source = M2M_SECRET_CREDENTIAL;
		return get_str(c, v, &T_CRED, &ref->path);
	case S_PROMPT:
		rc = get_bool(c, v, &yes);
		if (rc)
			return rc;
		if (!yes)
			return fail(c, v, "'%s' names no source; expected true, or no pin at all",
				    q(v, b, sizeof(b)));
		ref->source = M2M_SECRET_PROMPT;
		return M2M_OK;
	}
	return M2M_OK;
}

static int parse_pin(struct ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		     struct m2m_secret_ref *ref)
{
	static const char expected[] =
		"a mapping saying where the PIN comes from (file, fd, credential or prompt), never the PIN itself";
	const struct cfg_node *seen[S_N] = { NULL };
	struct pin_state ps = { .ref = ref };
	bool is_map;
	int rc;

	rc = want_map(c, v, true, expected, &is_map);
	if (!rc && is_map)
		rc = walk(c, v, pin_keys, seen, pin_key, &ps);
	if (rc)
		return rc;
	if (ref->source == M2M_SECRET_NONE)
		return fail(c, key, "no source; expected %s", pin_expected);
	return M2M_OK;
}

/*
 * A TPM persistent handle of the owner, hex: 0x81000000 to 0x817fffff (from
 * 0x81800000 they belong to the platform, which we cannot make keys in).
 */
static int get_handle(struct ctx *c, const struct cfg_node *v, uint32_t *out)
{
	static const char expected[] = "a persistent handle in hex, 0x81000000 to 0x817fffff";
	char b[QMAX * 4 + 8], *end;
	const char *s;
	unsigned long h;
	int rc = text(c, v, expected, &s);

	if (rc)
		return rc;
	h = strtoul(s, &end, 16);
	if (*end || !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) || h < 0x81000000ul ||
	    h > 0x81fffffful)
		return fail(c, v, "invalid handle '%s'; expected %s", q(v, b, sizeof(b)), expected);
	if (h >= 0x81800000ul)
		return fail(c, v, "handle '%s' belongs to the platform; expected %s",
			    q(v, b, sizeof(b)), expected);
	*out = (uint32_t)h;
	return M2M_OK;
}

struct auth_state {
	struct m2m_vpn_profile *p;
	const struct auth_method *m;
};

static int auth_key(struct ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		    void *obj)
{
	struct auth_state *as = obj;
	struct m2m_vpn_profile *p = as->p;

	switch (k) {
	case A_METHOD: {
		struct choice ch[ARRAY_SIZE(auth_methods)];
		int i = 0, rc;

		for (size_t j = 0; j < ARRAY_SIZE(auth_methods); j++)
			ch[j] = (struct choice){ auth_methods[j].name, (int)j };
		rc = get_enum(c, v, ch, ARRAY_SIZE(ch), &i);
		if (rc)
			return rc;
		as->m = &auth_methods[i];
		p->auth = as->m->id;
		return M2M_OK;
	}
	case A_CERT:
		return get_str(c, v, &T_FILE, &p->cert);
	case A_KEY:
		return get_str(c, v, &T_FILE, &p->key);
	case A_PKCS12:
		return get_str(c, v, &T_FILE, &p->pkcs12);
	case A_PIN:
		return parse_pin(c, key, v, &p->pin);
	case A_MODULE:
		return get_str(c, v, &T_MODULE, &p->module);
	case A_TOKEN:
		return get_str(c, v, &T_TEXT, &p->token);
	case A_ID:
		return get_str(c, v, &T_HEXID, &p->key_id);
	case A_TCTI:
		return get_str(c, v, &T_TCTI, &p->tcti);
	case A_HANDLE:
		return get_handle(c, v, &p->handle);
	case A_EAP_ID:
		return get_str(c, v, &T_ID, &p->eap_id);
	case A_PASSWORD:
		return parse_pin(c, key, v, &p->password);
	}
	return M2M_OK;
}

static int parse_auth(struct ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		      struct m2m_vpn_profile *p)
{
	const struct cfg_node *seen[A_N] = { NULL };
	struct auth_state as = { .p = p };
	char methods[128], allowed[128];
	const char *names[ARRAY_SIZE(auth_methods) + 1] = { NULL };
	bool is_map;
	int rc;

	for (size_t j = 0; j < ARRAY_SIZE(auth_methods); j++)
		names[j] = auth_methods[j].name;
	join(methods, sizeof(methods), names, all_bits(names), "or");
	rc = want_map(c, v, false, "a mapping with method and its files", &is_map);
	if (rc)
		return rc;
	rc = walk(c, v, auth_keys, seen, auth_key, &as);
	if (rc)
		return rc;
	if (!as.m)
		return missing(c, key, "method", methods);
	join(allowed, sizeof(allowed), auth_keys, as.m->allow, "or");
	/* keys this method does not use, in file order */
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		for (int k = 0; k < A_N; k++) {
			size_t old;

			if (seen[k] != v->kids[i] || (as.m->allow & BIT(k)))
				continue;
			old = push(c, auth_keys[k]);
			rc = fail(c, seen[k], "not used by method %s; expected %s", as.m->name,
				  allowed);
			pop(c, old);
			return rc;
		}
	}
	for (int k = 0; k < A_N; k++) {
		size_t old;

		if (!(as.m->need & BIT(k)) || seen[k])
			continue;
		old = push(c, auth_keys[k]);
		rc = fail(c, key, "missing for method %s; expected %s", as.m->name,
			  auth_expected[k]);
		pop(c, old);
		return rc;
	}
	return M2M_OK;
}

/* ------------------------------------------------------------------------ */
/* vpn.profiles.NAME.retry */

enum { B_MIN, B_MAX, B_N };
static const char *const backoff_keys[] = { "min", "max", NULL };
enum { R_NETWORK, R_AUTH, R_N };
static const char *const retry_keys[] = { "network", "auth", NULL };

struct backoff_state {
	struct m2m_backoff *b;
	const struct cfg_node *val[B_N];
};

static int backoff_key(struct ctx *c, int k, const struct cfg_node *key,
		       const struct cfg_node *v, void *obj)
{
	struct backoff_state *bs = obj;

	bs->val[k] = v;
	return get_duration(c, v, true, k == B_MIN ? &bs->b->min_ms : &bs->b->max_ms);
}

static int retry_key(struct ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		     void *obj)
{
	struct m2m_vpn_profile *p = obj;
	const struct cfg_node *seen[B_N] = { NULL };
	struct backoff_state bs = { .b = k == R_NETWORK ? &p->retry_network : &p->retry_auth };
	char lo[32], hi[32], b[QMAX * 4 + 8];
	bool is_map;
	size_t old;
	int rc;

	rc = want_map(c, v, true, "a mapping with min and/or max", &is_map);
	if (!rc && is_map)
		rc = walk(c, v, backoff_keys, seen, backoff_key, &bs);
	if (rc || bs.b->max_ms >= bs.b->min_ms)
		return rc;
	if (bs.val[B_MAX]) {
		cfg_format_duration(lo, sizeof(lo), bs.b->min_ms);
		old = push(c, "max");
		rc = fail(c, bs.val[B_MAX], "'%s' is less than min %s; expected max >= min",
			  q(bs.val[B_MAX], b, sizeof(b)), lo);
	} else {
		cfg_format_duration(hi, sizeof(hi), bs.b->max_ms);
		old = push(c, "min");
		rc = fail(c, bs.val[B_MIN], "'%s' is more than the default max %s; expected min <= max (set max too)",
			  q(bs.val[B_MIN], b, sizeof(b)), hi);
	}
	pop(c, old);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* vpn.profiles.NAME */

enum {
	P_GATEWAY, P_REMOTE_ID, P_LOCAL_ID, P_AUTH, P_CA, P_PROPOSALS, P_ESP_PROPOSALS,
	P_LOCAL_TS, P_REMOTE_TS, P_VIRTUAL_IP, P_MODE, P_FAIL_CLOSED, P_MOBIKE, P_DPD,
	P_REKEY, P_TIMEOUT, P_RETRY, P_N
};
static const char *const profile_keys[] = {
	"gateway", "remote_id", "local_id", "auth", "ca", "proposals", "esp_proposals",
	"local_ts", "remote_ts", "virtual_ip", "mode", "fail_closed", "mobike", "dpd",
	"rekey", "timeout", "retry", NULL
};

static const struct choice modes[] = {
	{ "on-demand", M2M_VPN_ON_DEMAND },
	{ "always-on", M2M_VPN_ALWAYS_ON },
};

static int profile_key(struct ctx *c, int k, const struct cfg_node *key,
		       const struct cfg_node *v, void *obj)
{
	struct m2m_vpn_profile *p = obj;
	const struct cfg_node *seen[R_N] = { NULL };
	bool is_map;
	int mode, rc;

	switch (k) {
	case P_GATEWAY:
		return get_list(c, v, &T_HOST, &p->gateways);
	case P_REMOTE_ID:
		return get_str(c, v, &T_ID, &p->remote_id);
	case P_LOCAL_ID:
		return get_str(c, v, &T_ID, &p->local_id);
	case P_AUTH:
		return parse_auth(c, key, v, p);
	case P_CA:
		return get_list(c, v, &T_FILE, &p->ca);
	case P_PROPOSALS:
		return get_list(c, v, &T_PROPOSAL, &p->proposals);
	case P_ESP_PROPOSALS:
		return get_list(c, v, &T_PROPOSAL, &p->esp_proposals);
	case P_LOCAL_TS:
		return get_list(c, v, &T_CIDR, &p->local_ts);
	case P_REMOTE_TS:
		return get_list(c, v, &T_CIDR, &p->remote_ts);
	case P_VIRTUAL_IP:
		return get_bool(c, v, &p->virtual_ip);
	case P_MODE:
		rc = get_enum(c, v, modes, ARRAY_SIZE(modes), &mode);
		if (!rc)
			p->mode = (enum m2m_vpn_mode)mode;
		return rc;
	case P_FAIL_CLOSED:
		return get_bool(c, v, &p->fail_closed);
	case P_MOBIKE:
		return get_bool(c, v, &p->mobike);
	case P_DPD:
		return get_duration(c, v, false, &p->dpd_delay_ms);
	case P_REKEY:
		return get_duration(c, v, false, &p->rekey_ms);
	case P_TIMEOUT:
		return get_duration(c, v, true, &p->timeout_ms);
	case P_RETRY:
		rc = want_map(c, v, true, "a mapping with network and/or auth", &is_map);
		if (!rc && is_map)
			rc = walk(c, v, retry_keys, seen, retry_key, p);
		return rc;
	}
	return M2M_OK;
}

static bool valid_profile_name(const struct cfg_node *key)
{
	if (key->len < 1 || key->len > 32)
		return false;
	for (size_t i = 0; i < key->len; i++) {
		char ch = key->str[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

static int parse_profile(struct ctx *c, const struct cfg_node *key, const struct cfg_node *v,
			 struct m2m_vpn_profile *p)
{
	static const struct {
		int k;
		const char *expected;
	} required[] = {
		{ P_GATEWAY, "the gateway's address or DNS name, or a list of them" },
		{ P_REMOTE_ID, "the gateway's IKE identity (a string)" },
		{ P_AUTH, "a mapping with method and its files" },
		{ P_CA, "the path of the CA certificate that signed the gateway's, or a list of them" },
		{ P_REMOTE_TS, "the CIDR prefixes to reach through the tunnel" },
	};
	const struct cfg_node *seen[P_N] = { NULL };
	bool is_map;
	int rc;

	p->virtual_ip = true;
	p->mobike = true;
	p->mode = M2M_VPN_ON_DEMAND;
	p->timeout_ms = 30 * 1000;
	p->retry_network = (struct m2m_backoff){ 1000, 60 * 1000 };
	p->retry_auth = (struct m2m_backoff){ 5 * 60 * 1000, 3600 * 1000 };
	p->pin.fd = -1;
	p->password.fd = -1;

	rc = want_map(c, v, false, "a mapping describing the profile", &is_map);
	if (rc)
		return rc;
	rc = walk(c, v, profile_keys, seen, profile_key, p);
	if (rc)
		return rc;
	for (size_t i = 0; i < ARRAY_SIZE(required); i++)
		if (!seen[required[i].k])
			return missing(c, key, profile_keys[required[i].k], required[i].expected);
	if (!seen[P_FAIL_CLOSED])
		p->fail_closed = p->mode == M2M_VPN_ALWAYS_ON;
	if (!seen[P_DPD])
		p->dpd_delay_ms = p->mode == M2M_VPN_ALWAYS_ON ? 10 * 1000 : 0;
	return M2M_OK;
}

static int parse_profiles(struct ctx *c, const struct cfg_node *v, struct m2m_config *cfg)
{
	static const char expected[] = "a mapping of profile names to profiles";
	bool is_map;
	size_t n;
	int rc;

	rc = want_map(c, v, true, expected, &is_map);
	if (rc || !is_map)
		return rc;
	rc = check_keys(c, v, "a profile name");
	if (rc)
		return rc;
	c->profiles = v;
	n = v->n / 2;
	if (!n)
		return M2M_OK;
	cfg->profiles = calloc(n, sizeof(*cfg->profiles));
	if (!cfg->profiles)
		return oom(c);
	cfg->n_profiles = n;
	for (size_t i = 0; i < n; i++) {
		cfg->profiles[i].pin.fd = -1;
		cfg->profiles[i].password.fd = -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cfg_node *key = v->kids[2 * i];
		struct m2m_vpn_profile *p = &cfg->profiles[i];
		char b[QMAX * 4 + 8];
		size_t old;

		if (!valid_profile_name(key))
			return fail(c, key, "invalid profile name '%s'; expected 1 to 32 letters, digits, _ or -",
				    q(key, b, sizeof(b)));
		p->name = strdup(key->str);
		if (!p->name)
			return oom(c);
		old = push(c, p->name);
		rc = parse_profile(c, key, v->kids[2 * i + 1], p);
		pop(c, old);
		if (rc)
			return rc;
	}
	return M2M_OK;
}

/* ------------------------------------------------------------------------ */
/* dm: device management over OMA LwM2M */

static const char *check_coap_uri(const char *s, char *hint, size_t len)
{
	const char *h;

	if (strncmp(s, "coap://", 7) == 0)
		h = s + 7;
	else if (strncmp(s, "coaps://", 8) == 0)
		h = s + 8;
	else
		return "not a coap:// or coaps:// URI";
	if (!*h || *h == '/' || *h == ':')
		return "no host";
	return NULL;
}

static const struct vtype T_COAP_URI = { "URI", "coap://host[:port] or coaps://host[:port]",
					 check_coap_uri, false };
static const struct vtype T_ENDPOINT = { "endpoint name", "a string", NULL, false };
static const struct vtype T_EXEC = { "path", "the path of an executable", NULL, true };

enum {
	M_SERVER, M_BOOTSTRAP, M_ENDPOINT, M_SECURITY, M_PSK_IDENTITY, M_PSK_KEY, M_CERT, M_KEY,
	M_CA, M_LIFETIME, M_BINDING, M_QUEUE_WINDOW, M_JITTER, M_TIMEOUT, M_LOCATION, M_HOOKS,
	M_BLOCK_SIZE, M_MAX_BODY, M_N
};
static const char *const dm_keys[] = {
	"server", "bootstrap", "endpoint", "security", "psk_identity", "psk_key", "cert", "key",
	"ca", "lifetime", "binding", "queue_window", "jitter", "timeout", "location", "hooks",
	"block_size", "max_body", NULL
};
enum { H_REBOOT, H_FACTORY_RESET, H_N };
static const char *const hook_keys[] = { "reboot", "factory_reset", NULL };

static const struct choice dm_block_sizes[] = {
	{ "16", 16 }, { "32", 32 }, { "64", 64 }, { "128", 128 },
	{ "256", 256 }, { "512", 512 }, { "1024", 1024 },
};

static const struct choice dm_securities[] = {
	{ "nosec", M2M_DM_NOSEC },
	{ "psk", M2M_DM_PSK },
	{ "x509", M2M_DM_X509 },
};
static const struct choice dm_bindings[] = {
	{ "U", M2M_DM_BINDING_U },
	{ "UQ", M2M_DM_BINDING_UQ },
};

/*
 * Which keys each security mode needs; a key of another mode is an error so
 * a half-edited file cannot silently fall back to less protection.
 */
static const struct dm_mode {
	int id;
	unsigned need;
	unsigned forbid;
} dm_modes[] = {
	{ M2M_DM_NOSEC, 0, BIT(M_PSK_IDENTITY) | BIT(M_PSK_KEY) | BIT(M_CERT) | BIT(M_KEY) | BIT(M_CA) },
	{ M2M_DM_PSK, BIT(M_PSK_IDENTITY) | BIT(M_PSK_KEY), BIT(M_CERT) | BIT(M_KEY) | BIT(M_CA) },
	{ M2M_DM_X509, BIT(M_CERT) | BIT(M_KEY) | BIT(M_CA), BIT(M_PSK_IDENTITY) | BIT(M_PSK_KEY) },
};

static int hook_key(struct ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		    void *obj)
{
	struct m2m_dm_config *dm = obj;

	return get_str(c, v, &T_EXEC, k == H_REBOOT ? &dm->reboot_hook : &dm->factory_reset_hook);
}

/*
 * dm.key: a PEM file, a key on a PKCS#11 token or in a TPM:
 *   key: {pkcs11: {module: PATH, token: LABEL, id: HEX}, pin: {file: ...}}
 *   key: {tpm: {handle: 0x81010002, tcti: "..."}, pin: {file: ...}}   (pin optional)
 */
enum { DK_PKCS11, DK_TPM, DK_PIN, DK_N };
static const char *const dm_key_keys[] = { "pkcs11", "tpm", "pin", NULL };
enum { DP_MODULE, DP_TOKEN, DP_ID, DP_N };
static const char *const dm_p11_keys[] = { "module", "token", "id", NULL };
enum { DT_HANDLE, DT_TCTI, DT_N };
static const char *const dm_tpm_keys[] = { "handle", "tcti", NULL };

static int dm_tpm_key(struct ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		      void *obj)
{
	struct m2m_dm_config *dm = obj;

	if (k == DT_HANDLE)
		return get_handle(c, v, &dm->key_handle);
	return get_str(c, v, &T_TCTI, &dm->key_tcti);
}

static int dm_p11_key(struct ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		      void *obj)
{
	struct m2m_dm_config *dm = obj;

	switch (k) {
	case DP_MODULE:
		return get_str(c, v, &T_MODULE, &dm->key_module);
	case DP_TOKEN:
		return get_str(c, v, &T_TEXT, &dm->key_token);
	case DP_ID:
		return get_str(c, v, &T_HEXID, &dm->key_id);
	}
	return M2M_OK;
}

static int dm_key_key(struct ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		      void *obj)
{
	struct m2m_dm_config *dm = obj;
	const struct cfg_node *seen[DP_N] = { NULL };
	bool is_map;
	int rc;

	if (k == DK_PIN)
		return parse_pin(c, key, v, &dm->key_pin);
	if (k == DK_TPM) {
		const struct cfg_node *tseen[DT_N] = { NULL };

		dm->key_tpm = true;
		rc = want_map(c, v, true, "a mapping with handle and tcti (both optional)", &is_map);
		if (!rc && is_map)
			rc = walk(c, v, dm_tpm_keys, tseen, dm_tpm_key, dm);
		return rc;
	}
	rc = want_map(c, v, false, "a mapping with module, id and optionally token", &is_map);
	if (!rc)
		rc = walk(c, v, dm_p11_keys, seen, dm_p11_key, dm);
	if (!rc && !seen[DP_MODULE])
		rc = missing(c, key, "module", "the absolute path of the PKCS#11 module");
	if (!rc && !seen[DP_ID])
		rc = missing(c, key, "id", "the key's CKA_ID in hex, such as 01");
	return rc;
}

static int parse_dm_key(struct ctx *c, const struct cfg_node *key, const struct cfg_node *v,
			struct m2m_dm_config *dm)
{
	const struct cfg_node *seen[DK_N] = { NULL };
	int rc;

	if (v->kind != CFG_MAP)
		return get_str(c, v, &T_FILE, &dm->key);
	rc = walk(c, v, dm_key_keys, seen, dm_key_key, dm);
	if (!rc && seen[DK_PKCS11] && seen[DK_TPM]) {
		size_t old = push(c, "tpm");

		rc = fail(c, seen[DK_TPM], "the key is on a PKCS#11 token already; expected pkcs11 "
			  "or tpm, not both");
		pop(c, old);
	}
	if (!rc && seen[DK_TPM])
		return M2M_OK; /* a TPM key's auth value is optional */
	if (!rc && !seen[DK_PKCS11])
		rc = missing(c, key, "pkcs11", "the key's store: pkcs11: {module: PATH, id: HEX} "
			     "or tpm: {handle: HANDLE}");
	if (!rc && !seen[DK_PIN])
		rc = missing(c, key, "pin", "where the token's user PIN comes from "
			     "(file, fd, credential or prompt)");
	return rc;
}

static int dm_key(struct ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		  void *obj)
{
	struct m2m_dm_config *dm = obj;
	const struct cfg_node *seen[H_N] = { NULL };
	bool is_map;
	int e, rc;

	switch (k) {
	case M_SERVER:
		return get_str(c, v, &T_COAP_URI, &dm->server);
	case M_BOOTSTRAP:
		return get_str(c, v, &T_COAP_URI, &dm->bootstrap);
	case M_ENDPOINT:
		return get_str(c, v, &T_ENDPOINT, &dm->endpoint);
	case M_SECURITY:
		rc = get_enum(c, v, dm_securities, ARRAY_SIZE(dm_securities), &e);
		if (!rc)
			dm->security = (enum m2m_dm_security)e;
		return rc;
	case M_PSK_IDENTITY:
		return get_str(c, v, &T_TEXT, &dm->psk_identity);
	case M_PSK_KEY:
		return parse_pin(c, key, v, &dm->psk_key);
	case M_CERT:
		return get_str(c, v, &T_FILE, &dm->cert);
	case M_KEY:
		return parse_dm_key(c, key, v, dm);
	case M_CA:
		return get_str(c, v, &T_FILE, &dm->ca);
	case M_LIFETIME:
		return get_duration(c, v, true, &dm->lifetime_ms);
	case M_BINDING:
		rc = get_enum(c, v, dm_bindings, ARRAY_SIZE(dm_bindings), &e);
		if (!rc)
			dm->binding = (enum m2m_dm_binding)e;
		return rc;
	case M_QUEUE_WINDOW:
		return get_duration(c, v, false, &dm->queue_window_ms);
	case M_JITTER:
		return get_duration(c, v, false, &dm->jitter_ms);
	case M_TIMEOUT:
		return get_duration(c, v, true, &dm->timeout_ms);
	case M_LOCATION:
		return get_str(c, v, &T_FILE, &dm->location);
	case M_BLOCK_SIZE:
		rc = get_enum(c, v, dm_block_sizes, ARRAY_SIZE(dm_block_sizes), &e);
		if (!rc)
			dm->block_size = (unsigned)e;
		return rc;
	case M_MAX_BODY:
		return get_size(c, v, 1024, 16 * 1024 * 1024, &dm->max_body);
	case M_HOOKS:
		rc = want_map(c, v, true, "a mapping with reboot and/or factory_reset", &is_map);
		if (!rc && is_map)
			rc = walk(c, v, hook_keys, seen, hook_key, dm);
		return rc;
	}
	return M2M_OK;
}

static int parse_dm(struct ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		    struct m2m_dm_config *dm)
{
	const struct cfg_node *seen[M_N] = { NULL };
	const struct dm_mode *mode = NULL;
	bool is_map;
	int rc;

	dm->lifetime_ms = 300 * 1000;
	dm->queue_window_ms = 20 * 1000;
	dm->timeout_ms = 60 * 1000;
	dm->block_size = 1024;
	dm->max_body = 64 * 1024;
	dm->psk_key.fd = -1;
	dm->key_pin.fd = -1;
	rc = want_map(c, v, true, "a mapping with server, security and their keys", &is_map);
	if (rc || !is_map || v->n == 0)
		return rc; /* an empty section: device management not configured */
	dm->enabled = true;
	rc = walk(c, v, dm_keys, seen, dm_key, dm);
	if (rc)
		return rc;
	if (!seen[M_SERVER] && !seen[M_BOOTSTRAP])
		return missing(c, key, "server", "the LwM2M server's coap:// or coaps:// URI");
	if (!seen[M_SECURITY])
		return missing(c, key, "security", "nosec, psk or x509 (nosec only if meant)");
	for (size_t i = 0; i < ARRAY_SIZE(dm_modes); i++)
		if (dm_modes[i].id == (int)dm->security)
			mode = &dm_modes[i];
	for (int k = 0; k < M_N; k++) {
		if ((mode->need & BIT(k)) && !seen[k]) {
			char exp[64];

			snprintf(exp, sizeof(exp), "it with security %s",
				 dm_securities[dm->security].name);
			return missing(c, key, dm_keys[k], exp);
		}
		if ((mode->forbid & BIT(k)) && seen[k]) {
			size_t old = push(c, dm_keys[k]);

			rc = fail(c, seen[k], "does not apply to security %s; expected it removed",
				  dm_securities[dm->security].name);
			pop(c, old);
			return rc;
		}
	}
	/* a coaps:// server with nosec, or coap:// with DTLS, is a mistake either way */
	if (dm->server && (strncmp(dm->server, "coaps:", 6) == 0) != (dm->security != M2M_DM_NOSEC)) {
		size_t old = push(c, "server");

		rc = fail(c, seen[M_SERVER], "'%s' does not match security %s; expected %s",
			  dm->server, dm_securities[dm->security].name,
			  dm->security == M2M_DM_NOSEC ? "coap://" : "coaps://");
		pop(c, old);
		return rc;
	}
	return M2M_OK;
}

/* ------------------------------------------------------------------------ */
/* the top level */

enum { K_VERSION, K_DEVICE, K_CHARON, K_STATE_DIR, K_VPN, K_DM, K_PKI, K_N };
static const char *const root_keys[] = {
	"version", "device", "charon", "state_dir", "vpn", "dm", "pki", NULL
};
enum { D_ID, D_SERIAL, D_MANUFACTURER, D_MODEL, D_N };
static const char *const device_keys[] = { "id", "serial", "manufacturer", "model", NULL };
static const char *const charon_keys[] = { "vici", NULL };
static const char *const vpn_keys[] = { "profiles", NULL };

static int device_key(struct ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		      void *obj)
{
	struct m2m_config *cfg = obj;
	char **dst[D_N] = {
		[D_ID] = &cfg->device.id,
		[D_SERIAL] = &cfg->device.serial,
		[D_MANUFACTURER] = &cfg->device.manufacturer,
		[D_MODEL] = &cfg->device.model,
	};

	return get_str(c, v, k == D_ID ? &T_ID : &T_TEXT, dst[k]);
}

static int charon_key(struct ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		      void *obj)
{
	struct m2m_config *cfg = obj;

	return get_str(c, v, &T_VICI, &cfg->charon.vici);
}

static int vpn_key(struct ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		   void *obj)
{
	return parse_profiles(c, v, obj);
}

/* A reserved section: any YAML at all, but no aliases and no duplicate keys. */
static int check_any(struct ctx *c, const struct cfg_node *v)
{
	size_t old;
	int rc = M2M_OK;

	switch (v->kind) {
	case CFG_ALIAS:
		return wrong(c, v, "any value");
	case CFG_SCALAR:
		return M2M_OK;
	case CFG_SEQ:
		for (size_t i = 0; i < v->n && !rc; i++) {
			old = push_index(c, i);
			rc = check_any(c, v->kids[i]);
			pop(c, old);
		}
		return rc;
	case CFG_MAP:
		rc = check_keys(c, v, "a string");
		for (size_t i = 0; i + 1 < v->n && !rc; i += 2) {
			old = push_node(c, v->kids[i]);
			rc = check_any(c, v->kids[i + 1]);
			pop(c, old);
		}
		return rc;
	}
	return M2M_OK;
}

static int sub_section(struct ctx *c, const struct cfg_node *v, const char *expected,
		       const char *const *names, key_fn fn, void *obj)
{
	const struct cfg_node *seen[8] = { NULL }; /* >= the keys of any section */
	bool is_map;
	int rc = want_map(c, v, true, expected, &is_map);

	if (rc || !is_map)
		return rc;
	return walk(c, v, names, seen, fn, obj);
}

static int root_key(struct ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		    void *obj)
{
	struct m2m_config *cfg = obj;
	bool is_map;
	int rc;

	switch (k) {
	case K_VERSION:
		return M2M_OK; /* checked first, see check_version() */
	case K_DEVICE:
		return sub_section(c, v, "a mapping with id, serial, manufacturer and model",
				   device_keys, device_key, cfg);
	case K_CHARON:
		return sub_section(c, v, "a mapping with vici", charon_keys, charon_key, cfg);
	case K_STATE_DIR:
		return get_str(c, v, &T_ABSDIR, &cfg->state_dir);
	case K_VPN:
		return sub_section(c, v, "a mapping with profiles", vpn_keys, vpn_key, cfg);
	case K_DM:
		return parse_dm(c, key, v, &cfg->dm);
	case K_PKI:
		rc = want_map(c, v, true, "a mapping (reserved for a later version)", &is_map);
		if (rc || !is_map)
			return rc;
		return check_any(c, v);
	}
	return M2M_OK;
}

/* The version comes first: a newer file's other keys would only confuse. */
static int check_version(struct ctx *c, const struct cfg_node *root)
{
	const struct cfg_node *v = NULL;
	char b[QMAX * 4 + 8];
	size_t old = push(c, "version");
	bool digits = true;
	int rc = M2M_OK;

	for (size_t i = 0; i + 1 < root->n && !v; i += 2)
		if (key_is(root->kids[i], "version"))
			v = root->kids[i + 1];
	if (!v) {
		rc = fail(c, root, "missing; expected version: 1");
		goto out;
	}
	if (v->kind != CFG_SCALAR || cfg_is_null(v)) {
		rc = wrong(c, v, "1");
		goto out;
	}
	if (strcmp(v->str, "1") == 0)
		goto out;
	for (size_t i = 0; i < v->len; i++)
		digits = digits && v->str[i] >= '0' && v->str[i] <= '9';
	if (digits && v->len)
		rc = fail(c, v, "unsupported version %s; expected 1", q(v, b, sizeof(b)));
	else
		rc = fail(c, v, "invalid version '%s'; expected 1", q(v, b, sizeof(b)));
out:
	pop(c, old);
	return rc;
}

static int validate(struct ctx *c, const struct cfg_node *root, struct m2m_config *cfg)
{
	const struct cfg_node *seen[K_N] = { NULL };
	size_t old;
	int rc;

	if (!root || cfg_is_null(root)) {
		old = push(c, "version");
		rc = fail(c, root, "missing (the file is empty); expected version: 1");
		pop(c, old);
		return rc;
	}
	if (root->kind != CFG_MAP)
		return wrong(c, root, "a mapping with version: 1 and the sections of m2m.yaml(5)");
	rc = check_version(c, root);
	if (!rc)
		rc = walk(c, root, root_keys, seen, root_key, cfg);
	if (rc)
		return rc;
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		struct m2m_vpn_profile *p = &cfg->profiles[i];

		if (p->local_id)
			continue;
		if (!cfg->device.id) {
			old = push(c, "vpn.profiles");
			push(c, p->name);
			rc = missing(c, c->profiles->kids[2 * i], "local_id",
				     "local_id here or device.id (our IKE identity)");
			pop(c, old);
			return rc;
		}
		p->local_id = strdup(cfg->device.id);
		if (!p->local_id)
			return oom(c);
	}
	if (cfg->dm.enabled && !cfg->dm.endpoint) {
		if (!cfg->device.id) {
			old = push(c, "dm");
			rc = missing(c, seen[K_DM], "endpoint", "endpoint here or device.id");
			pop(c, old);
			return rc;
		}
		cfg->dm.endpoint = strdup(cfg->device.id);
		if (!cfg->dm.endpoint)
			return oom(c);
	}
	if (!cfg->charon.vici)
		cfg->charon.vici = strdup(M2M_VICI_DEFAULT_URI);
	if (!cfg->state_dir)
		cfg->state_dir = strdup(M2M_STATE_DEFAULT_DIR);
	if (!cfg->charon.vici || !cfg->state_dir)
		return oom(c);
	return M2M_OK;
}

/* ------------------------------------------------------------------------ */
/* the API */

const char *m2m_config_path(const char *explicit_path)
{
	const char *env;

	if (explicit_path)
		return explicit_path;
	env = getenv(M2M_CONFIG_ENV);
	if (env && *env)
		return env;
	return M2M_CONFIG_DEFAULT_PATH;
}

static void free_list(char **l)
{
	for (char **p = l; p && *p; p++)
		free(*p);
	free(l);
}

static void free_profile(struct m2m_vpn_profile *p)
{
	free(p->name);
	free_list(p->gateways);
	free(p->remote_id);
	free(p->local_id);
	free(p->cert);
	free(p->key);
	free(p->pkcs12);
	free(p->pin.path);
	free(p->module);
	free(p->token);
	free(p->key_id);
	free(p->tcti);
	free(p->eap_id);
	free(p->password.path);
	free_list(p->ca);
	free_list(p->proposals);
	free_list(p->esp_proposals);
	free_list(p->local_ts);
	free_list(p->remote_ts);
}

void m2m_config_free(struct m2m_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_profiles; i++)
		free_profile(&cfg->profiles[i]);
	free(cfg->profiles);
	free(cfg->path);
	free(cfg->device.id);
	free(cfg->device.serial);
	free(cfg->device.manufacturer);
	free(cfg->device.model);
	free(cfg->charon.vici);
	free(cfg->state_dir);
	free(cfg->dm.server);
	free(cfg->dm.bootstrap);
	free(cfg->dm.endpoint);
	free(cfg->dm.psk_identity);
	free(cfg->dm.psk_key.path);
	free(cfg->dm.cert);
	free(cfg->dm.key);
	free(cfg->dm.key_module);
	free(cfg->dm.key_token);
	free(cfg->dm.key_id);
	free(cfg->dm.key_tcti);
	free(cfg->dm.key_pin.path);
	free(cfg->dm.ca);
	free(cfg->dm.location);
	free(cfg->dm.reboot_hook);
	free(cfg->dm.factory_reset_hook);
	free(cfg);
}

const struct m2m_vpn_profile *m2m_config_profile(const struct m2m_config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (cfg->profiles[i].name && strcmp(cfg->profiles[i].name, name) == 0)
			return &cfg->profiles[i];
	return NULL;
}

static int parse_in(const char *name, const char *base, const char *buf, size_t len,
		    struct m2m_config **out, struct m2m_err *err)
{
	struct ctx c = { .base = base, .err = err };
	struct cfg_node *root;
	struct m2m_config *cfg;
	int rc;

	*out = NULL;
	cfg_quote(c.name, sizeof(c.name), name, strlen(name), 200);
	if (len > CFG_MAX_BYTES)
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "%s: too large (%zu bytes); expected at most 1 MiB", c.name, len);
	rc = cfg_tree_parse(name, buf, len, &root, err);
	if (rc)
		return rc;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->path = strdup(name))) {
		free(cfg);
		cfg_tree_free(root);
		return oom(&c);
	}
	rc = validate(&c, root, cfg);
	cfg_tree_free(root);
	if (rc) {
		m2m_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return M2M_OK;
}

/* The directory of name, absolute (lexically: nothing is looked up), or NULL. */
static char *dir_of(const char *name)
{
	const char *slash = strrchr(name, '/');
	char *cwd, *dir;

	if (slash == name)
		return strdup("/");
	if (slash && name[0] == '/')
		return strndup(name, (size_t)(slash - name));
	cwd = get_current_dir_name();
	if (!cwd || !slash)
		return cwd;
	if (asprintf(&dir, "%s/%.*s", strcmp(cwd, "/") ? cwd : "", (int)(slash - name), name) < 0)
		dir = NULL;
	free(cwd);
	return dir;
}

int m2m_config_parse(const char *name, const char *buf, size_t len, struct m2m_config **out,
		     struct m2m_err *err)
{
	char *base;
	int rc;

	if (!out)
		return m2m_err_set(err, M2M_ERR_FAILURE, "m2m_config_parse: no result pointer");
	if (!name)
		name = "(config)";
	base = dir_of(name);
	rc = parse_in(name, base, buf, len, out, err);
	free(base);
	return rc;
}

/* Refuse a file in a directory where anyone may replace it. */
static int check_dir(const char *qname, const char *file, char **real, struct m2m_err *err)
{
	char *copy = strdup(file), *slash, *dir;
	struct stat st;
	int rc = M2M_OK;

	*real = NULL;
	if (!copy)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	slash = strrchr(copy, '/');
	if (!slash)
		dir = ".";
	else if (slash == copy)
		dir = "/";
	else {
		*slash = '\0';
		dir = copy;
	}
	*real = realpath(dir, NULL);
	if (!*real || stat(*real, &st) < 0) {
		rc = m2m_err_set(err, M2M_ERR_CONFIG, "%s: its directory: %s", qname,
				 strerror(errno));
	} else if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
		char qdir[256];

		cfg_quote(qdir, sizeof(qdir), *real, strlen(*real), 200);
		rc = m2m_err_set(err, M2M_ERR_CONFIG,
				 "%s: refusing a config file in a world-writable directory (%s, mode %04o); chmod o-w %s",
				 qname, qdir, (unsigned)(st.st_mode & 07777), qdir);
	}
	free(copy);
	if (rc) {
		free(*real);
		*real = NULL;
	}
	return rc;
}

/* The file behind fd, and the directories of path; *dir: path's directory, resolved. */
static int check_file(const char *qname, const char *path, int fd, char **dir,
		      struct m2m_err *err)
{
	struct stat st;
	char *real = NULL, *target;
	int rc;

	*dir = NULL;
	if (fstat(fd, &st) < 0)
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: %s", qname, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: not a regular file; expected a YAML file",
				   qname);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "%s: refusing a config file writable by others (mode %04o); chmod go-w %s",
				   qname, (unsigned)(st.st_mode & 07777), qname);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "%s: refusing a config file owned by uid %u (neither root nor uid %u); chown root %s",
				   qname, (unsigned)st.st_uid, (unsigned)geteuid(), qname);
	if (st.st_size > CFG_MAX_BYTES)
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "%s: too large (%lld bytes); expected at most 1 MiB", qname,
				   (long long)st.st_size);
	/* the directory holding the name, and if it is a symlink, the target's */
	rc = check_dir(qname, path, dir, err);
	if (rc)
		return rc;
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		target = realpath(path, NULL);
		if (!target)
			rc = m2m_err_set(err, M2M_ERR_CONFIG, "%s: %s", qname, strerror(errno));
		else
			rc = check_dir(qname, target, &real, err);
		free(real);
		free(target);
	}
	if (rc) {
		free(*dir);
		*dir = NULL;
	}
	return rc;
}

int m2m_config_load(const char *path, struct m2m_config **out, struct m2m_err *err)
{
	char qname[256], *buf = NULL, *real = NULL;
	size_t len = 0;
	int fd, rc;

	if (!out)
		return m2m_err_set(err, M2M_ERR_FAILURE, "m2m_config_load: no result pointer");
	*out = NULL;
	if (!path)
		path = m2m_config_path(NULL);
	cfg_quote(qname, sizeof(qname), path, strlen(path), 200);
	/* O_NONBLOCK: opening a FIFO must not hang; it is refused below */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return m2m_err_set(err, M2M_ERR_CONFIG, "%s: no such file", qname);
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: %s", qname, strerror(errno));
	}
	rc = check_file(qname, path, fd, &real, err);
	if (!rc)
		/* one byte more than allowed, so the parser reports "too large" itself */
		rc = m2m_read_fd(fd, qname, CFG_MAX_BYTES + 1, &buf, &len, err);
	if (rc) {
		rc = M2M_ERR_CONFIG; /* every config problem is exit 3 */
		if (err)
			err->rc = rc;
	}
	close(fd);
	if (!rc)
		rc = parse_in(path, real, buf, len, out, err);
	free(real);
	free(buf);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * The value getters of the validator: one typed value each (a string of a
 * kind, a list of them, a boolean, a duration, a size, one of some names,
 * where a secret comes from, a TPM handle), or the message saying why not.
 * The syntax itself is in values.c.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "config/config_int.h"

/* ------------------------------------------------------------------------ */
/* scalars */

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

const struct cfg_vtype cfg_vt_text = { "string", "a string", NULL, false };
const struct cfg_vtype cfg_vt_id = { "identity", "an IKE identity (a string)", NULL, false };
const struct cfg_vtype cfg_vt_host = { "address or DNS name",
				     "an IPv4 or IPv6 address or a DNS name", check_host, false };
const struct cfg_vtype cfg_vt_cidr = { "CIDR prefix",
				     "an IPv4 or IPv6 prefix such as 10.1.0.0/16 or fd00:1::/64",
				     check_cidr, false };
const struct cfg_vtype cfg_vt_proposal = { "proposal",
					 "a strongSwan proposal such as aes256gcm16-prfsha256-ecp256",
					 check_proposal, false };
const struct cfg_vtype cfg_vt_file = { "path", "a file path", NULL, true };
const struct cfg_vtype cfg_vt_absdir = { "path", "an absolute directory path", check_absolute,
				       false };
const struct cfg_vtype cfg_vt_vici = { "VICI URI", "unix:///path/to/socket or /path/to/socket",
				     check_vici, false };
const struct cfg_vtype cfg_vt_module = { "path", "the absolute path of a PKCS#11 module (.so)",
				       check_absolute, false };
const struct cfg_vtype cfg_vt_hexid = { "key id", "the key's CKA_ID in hex, such as 01",
				      check_hex_id, false };
const struct cfg_vtype cfg_vt_tcti = { "TCTI", "a TCTI such as device:/dev/tpmrm0 or tabrmd:bus_type=session",
				     check_tcti, false };
const struct cfg_vtype cfg_vt_cred = { "credential name", "a systemd credential name",
				     check_credential, false };

/* The text of a scalar: non-empty, no control characters, a sane length. */
int cfg_text(struct cfg_ctx *c, const struct cfg_node *v, const char *expected,
	     const char **out)
{
	char b[QMAX * 4 + 8];

	if (v->kind != CFG_SCALAR || cfg_is_null(v))
		return cfg_wrong(c, v, expected);
	if (v->len == 0)
		return cfg_fail(c, v, "empty string; expected %s", expected);
	for (size_t i = 0; i < v->len; i++) {
		unsigned char ch = (unsigned char)v->str[i];

		if (ch < 0x20 || ch == 0x7f)
			return cfg_fail(c, v, "control character in '%s'; expected %s",
					cfg_q(v, b, sizeof(b)), expected);
	}
	if (v->len >= PATH_MAX)
		return cfg_fail(c, v, "longer than %d bytes; expected %s", PATH_MAX - 1, expected);
	*out = v->str;
	return M2M_OK;
}

/* A relative file name, made absolute against the config file's directory. */
static int resolve(struct cfg_ctx *c, const struct cfg_node *v, const char *s, char **out)
{
	size_t n;

	if (s[0] == '/') {
		*out = strdup(s);
		return *out ? M2M_OK : cfg_oom(c);
	}
	if (!c->base)
		return cfg_fail(c, v, "relative path, but the configuration's directory is unknown; expected an absolute path");
	while (s[0] == '.' && s[1] == '/') {
		s += 2;
		while (*s == '/')
			s++;
	}
	n = strlen(c->base) + 1 + strlen(s) + 1;
	if (n > PATH_MAX)
		return cfg_fail(c, v, "path too long once made absolute; expected at most %d bytes",
				PATH_MAX - 1);
	*out = malloc(n);
	if (!*out)
		return cfg_oom(c);
	snprintf(*out, n, "%s%s%s", c->base, strcmp(c->base, "/") ? "/" : "", s);
	return M2M_OK;
}

static int one(struct cfg_ctx *c, const struct cfg_node *v, const struct cfg_vtype *t,
	       const char *expected, char **out)
{
	char b[QMAX * 4 + 8], hint[128] = "";
	const char *s, *why;
	int rc;

	rc = cfg_text(c, v, expected, &s);
	if (rc)
		return rc;
	why = t->check ? t->check(s, hint, sizeof(hint)) : NULL;
	if (why)
		return cfg_fail(c, v, "invalid %s '%s' (%s); expected %s", t->noun,
				cfg_q(v, b, sizeof(b)), why, hint[0] ? hint : t->expected);
	if (t->path)
		return resolve(c, v, s, out);
	*out = strdup(s);
	return *out ? M2M_OK : cfg_oom(c);
}

int cfg_get_str(struct cfg_ctx *c, const struct cfg_node *v, const struct cfg_vtype *t,
		char **out)
{
	return one(c, v, t, t->expected, out);
}

/* A list cfg_get_list made (NULL-terminated), freed with its strings. */
void cfg_free_list(char **l)
{
	for (char **p = l; p && *p; p++)
		free(*p);
	free(l);
}

/* A string or a list of strings, into a NULL-terminated array. */
int cfg_get_list(struct cfg_ctx *c, const struct cfg_node *v, const struct cfg_vtype *t,
		 char ***out)
{
	char expected[192];
	size_t n, i;
	char **l;
	int rc = M2M_OK;

	snprintf(expected, sizeof(expected), "%s, or a list of them", t->expected);
	if (v->kind == CFG_SCALAR && !cfg_is_null(v)) {
		l = calloc(2, sizeof(*l));
		if (!l)
			return cfg_oom(c);
		rc = one(c, v, t, expected, &l[0]);
		if (rc) {
			free(l);
			return rc;
		}
		*out = l;
		return M2M_OK;
	}
	if (v->kind != CFG_SEQ)
		return cfg_wrong(c, v, expected);
	if (v->n == 0)
		return cfg_fail(c, v, "empty list; expected at least one: %s", t->expected);
	n = v->n;
	l = calloc(n + 1, sizeof(*l));
	if (!l)
		return cfg_oom(c);
	for (i = 0; i < n && !rc; i++) {
		size_t old = cfg_push_index(c, i);

		rc = one(c, v->kids[i], t, t->expected, &l[i]);
		cfg_pop(c, old);
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

int cfg_get_bool(struct cfg_ctx *c, const struct cfg_node *v, bool *out)
{
	static const char expected[] = "true, false, yes or no";
	char b[QMAX * 4 + 8];
	const char *s;
	int rc = cfg_text(c, v, expected, &s);

	if (rc)
		return rc;
	if (cfg_parse_bool(s, out))
		return cfg_fail(c, v, "invalid boolean '%s'; expected %s", cfg_q(v, b, sizeof(b)),
				expected);
	return M2M_OK;
}

int cfg_get_duration(struct cfg_ctx *c, const struct cfg_node *v, bool nonzero, unsigned *out)
{
	static const char expected[] =
		"a number with unit ms, s, m or h (none: seconds), such as 2.5s, at most 24h";
	char b[QMAX * 4 + 8];
	const char *s, *why;
	int rc = cfg_text(c, v, expected, &s);

	if (rc)
		return rc;
	why = m2m_parse_duration(s, out);
	if (!why && nonzero && *out == 0)
		why = "zero";
	if (why)
		return cfg_fail(c, v, "invalid duration '%s' (%s); expected %s%s",
				cfg_q(v, b, sizeof(b)), why, nonzero ? "more than 0, " : "", expected);
	return M2M_OK;
}

int cfg_get_size(struct cfg_ctx *c, const struct cfg_node *v, uint64_t min, uint64_t max,
		 size_t *out)
{
	static const char expected[] = "a whole number of bytes, with unit B, KiB or MiB";
	char b[QMAX * 4 + 8];
	const char *s, *why;
	uint64_t n = 0;
	int rc = cfg_text(c, v, expected, &s);

	if (rc)
		return rc;
	why = cfg_parse_size(s, max, &n);
	if (!why && n < min)
		why = "too small";
	if (why)
		return cfg_fail(c, v, "invalid size '%s' (%s); expected %s, from %llu to %llu bytes",
				cfg_q(v, b, sizeof(b)), why, expected, (unsigned long long)min,
			    (unsigned long long)max);
	*out = (size_t)n;
	return M2M_OK;
}

int cfg_get_enum(struct cfg_ctx *c, const struct cfg_node *v, const struct cfg_choice *ch,
		 size_t n, int *out)
{
	const char *names[8] = { NULL }, *s;
	char expected[192], b[QMAX * 4 + 8];
	int rc;

	for (size_t i = 0; i < n && i < ARRAY_SIZE(names) - 1; i++)
		names[i] = ch[i].name;
	cfg_join(expected, sizeof(expected), names, cfg_all_bits(names), "or");
	rc = cfg_text(c, v, expected, &s);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, ch[i].name) == 0) {
			*out = ch[i].value;
			return M2M_OK;
		}
	}
	return cfg_fail(c, v, "unknown value '%s'; expected %s", cfg_q(v, b, sizeof(b)), expected);
}

/* ------------------------------------------------------------------------ */
/* where a secret comes from */

enum { S_FILE, S_FD, S_CREDENTIAL, S_PROMPT, S_N };
static const char *const pin_keys[] = { "file", "fd", "credential", "prompt", NULL };
static const char pin_expected[] = "exactly one of file, fd, credential or prompt";

struct pin_state {
	struct m2m_secret_ref *ref;
	const struct cfg_node *first;
};

static int pin_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
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

		return cfg_fail(c, key, "a second source (after '%s'); expected %s",
				cfg_q(ps->first, f, sizeof(f)), pin_expected);
	}
	ps->first = key;
	switch (k) {
	case S_FILE:
		ref->source = M2M_SECRET_FILE;
		return cfg_get_str(c, v, &cfg_vt_file, &ref->path);
	case S_FD: {
		static const char fd_expected[] = "a file descriptor number (0 or more)";
		long n = 0;

		rc = cfg_text(c, v, fd_expected, &s);
		if (rc)
			return rc;
		for (const char *p = s; *p; p++) {
			if (*p < '0' || *p > '9' || n > INT_MAX / 10)
				return cfg_fail(c, v, "invalid file descriptor '%s'; expected %s",
						cfg_q(v, b, sizeof(b)), fd_expected);
			n = n * 10 + (*p - '0');
		}
		if (n > INT_MAX)
			return cfg_fail(c, v, "invalid file descriptor '%s'; expected %s",
					cfg_q(v, b, sizeof(b)), fd_expected);
		ref->source = M2M_SECRET_FD;
		ref->fd = (int)n;
		return M2M_OK;
	}
	case S_CREDENTIAL:
		ref->source = M2M_SECRET_CREDENTIAL;
		return cfg_get_str(c, v, &cfg_vt_cred, &ref->path);
	case S_PROMPT:
		rc = cfg_get_bool(c, v, &yes);
		if (rc)
			return rc;
		if (!yes)
			return cfg_fail(c, v, "'%s' names no source; expected true, or no pin at all",
					cfg_q(v, b, sizeof(b)));
		ref->source = M2M_SECRET_PROMPT;
		return M2M_OK;
	}
	return M2M_OK;
}

int cfg_get_pin(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		struct m2m_secret_ref *ref)
{
	static const char expected[] =
		"a mapping saying where the PIN comes from (file, fd, credential or prompt), never the PIN itself";
	const struct cfg_node *seen[S_N] = { NULL };
	struct pin_state ps = { .ref = ref };
	bool is_map;
	int rc;

	rc = cfg_want_map(c, v, true, expected, &is_map);
	if (!rc && is_map)
		rc = cfg_walk(c, v, pin_keys, seen, pin_key, &ps);
	if (rc)
		return rc;
	if (ref->source == M2M_SECRET_NONE)
		return cfg_fail(c, key, "no source; expected %s", pin_expected);
	return M2M_OK;
}

/*
 * A TPM handle in hex within one range of the TPM's (TPM 2.0 Part 2, the
 * handle types): [lo, hi] with its first byte, of which the part from
 * reserved on belongs to someone else (reserved_why says whom).
 */
struct cfg_tpm_range {
	const char *what;          /* "handle", "NV index" */
	const char *expected;
	unsigned long lo, hi, reserved;
	const char *reserved_why;
};

static int get_tpm_hex(struct cfg_ctx *c, const struct cfg_node *v, const struct cfg_tpm_range *r,
		       uint32_t *out)
{
	char b[QMAX * 4 + 8], *end;
	const char *s;
	unsigned long h;
	int rc = cfg_text(c, v, r->expected, &s);

	if (rc)
		return rc;
	h = strtoul(s, &end, 16);
	if (*end || !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) || h < r->lo || h > r->hi)
		return cfg_fail(c, v, "invalid %s '%s'; expected %s", r->what, cfg_q(v, b, sizeof(b)),
				r->expected);
	if (h >= r->reserved)
		return cfg_fail(c, v, "%s '%s' %s; expected %s", r->what, cfg_q(v, b, sizeof(b)),
				r->reserved_why, r->expected);
	*out = (uint32_t)h;
	return M2M_OK;
}

/*
 * A TPM persistent handle of the owner, hex: 0x81000000 to 0x817fffff (from
 * 0x81800000 they belong to the platform, which we cannot make keys in).
 */
int cfg_get_handle(struct cfg_ctx *c, const struct cfg_node *v, uint32_t *out)
{
	static const struct cfg_tpm_range r = {
		"handle", "a persistent handle in hex, 0x81000000 to 0x817fffff",
		0x81000000ul, 0x81fffffful, 0x81800000ul, "belongs to the platform",
	};

	return get_tpm_hex(c, v, &r, out);
}

/*
 * An NV index of the owner, hex: 0x01000000 to 0x01bfffff (from 0x01c00000
 * the TCG's registry puts the endorsement and platform certificates).
 */
int cfg_get_nv_index(struct cfg_ctx *c, const struct cfg_node *v, uint32_t *out)
{
	static const struct cfg_tpm_range r = {
		"NV index", "an NV index in hex, 0x01000000 to 0x01bfffff",
		0x01000000ul, 0x01fffffful, 0x01c00000ul,
		"is the TCG's (endorsement and platform certificates)",
	};

	return get_tpm_hex(c, v, &r, out);
}


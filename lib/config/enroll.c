/* SPDX-License-Identifier: MIT */
/*
 * A VPN profile's enroll: section of m2m.yaml(5) (vpn.profiles.NAME.enroll):
 * the CA's CMP server, the trust anchors of its answers, and how the first
 * request is protected (a reference and a shared secret, or the profile's
 * own certificate). Parsed by vpn.c for each profile that has one.
 */
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

/*
 * http://host[:port]/path: CMP over HTTP (RFC 6712), whose messages carry
 * their own protection; https:// the same inside TLS. No user part, query or
 * fragment: a CA's path is plain, and a "user:password@" would be a secret
 * in the file's text.
 */
static const char *check_url(const char *s, char *hint, size_t len)
{
	const char *h, *end;

	if (strncmp(s, "http://", 7) == 0)
		h = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		h = s + 8;
	else
		return "not an http:// or https:// URL";
	if (*h == '\0' || *h == '/' || *h == ':')
		return "no host";
	if (strpbrk(h, "@?#"))
		return "a user, query or fragment is not allowed";
	end = h + strcspn(h, "/");
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));

		if (!rb)
			return "an IPv6 address without ]";
		h = rb + 1;
	} else {
		h += strcspn(h, ":/");
	}
	if (*h == ':') {
		unsigned long port = 0;
		const char *p = h + 1;

		if (p == end)
			return "an empty port";
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return "a port that is not a number";
			port = port * 10 + (unsigned long)(*p - '0');
			if (port > 65535)
				return "a port above 65535";
		}
		if (port == 0)
			return "port 0";
	} else if (h != end) {
		return "not an http:// or https:// URL";
	}
	return NULL;
}

static const char *check_dn(const char *s, char *hint, size_t len)
{
	return strchr(s, '=') ? NULL : "not a distinguished name";
}

static const struct cfg_vtype T_URL = { "URL", "http(s)://host[:port]/path of the CA's CMP server",
					check_url, false };
static const struct cfg_vtype T_TRUST = { "path", "a PEM file of the CA's trust anchors", NULL, true };
static const struct cfg_vtype T_TLS_CA = { "path", "a PEM file of the CA certificates of the server's TLS certificate",
					   NULL, true };
static const struct cfg_vtype T_DN = { "name", "a distinguished name such as CN=dev1,O=ACME",
				       check_dn, false };

enum { E_SERVER, E_TRUST, E_RECIPIENT, E_REFERENCE, E_SECRET, E_SUBJECT, E_SAN, E_TIMEOUT, E_TLS_CA, E_N };
static const char *const enroll_keys[] = {
	"server", "trust", "recipient", "reference", "secret", "subject", "san", "timeout", "tls_ca", NULL
};

static int enroll_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		      void *obj)
{
	struct m2m_enroll_config *e = obj;

	switch (k) {
	case E_SERVER:
		return cfg_get_str(c, v, &T_URL, &e->server);
	case E_TRUST:
		return cfg_get_str(c, v, &T_TRUST, &e->trust);
	case E_RECIPIENT:
		return cfg_get_str(c, v, &T_DN, &e->recipient);
	case E_REFERENCE:
		return cfg_get_str(c, v, &cfg_vt_text, &e->reference);
	case E_SECRET:
		return cfg_get_pin(c, key, v, &e->secret);
	case E_SUBJECT:
		return cfg_get_str(c, v, &T_DN, &e->subject);
	case E_SAN:
		return cfg_get_list(c, v, &cfg_vt_text, &e->sans);
	case E_TIMEOUT:
		return cfg_get_duration(c, v, true, &e->timeout_ms);
	case E_TLS_CA:
		return cfg_get_str(c, v, &T_TLS_CA, &e->tls_ca);
	}
	return M2M_OK;
}

void cfg_enroll_free(struct m2m_enroll_config *e)
{
	if (!e)
		return;
	free(e->server);
	free(e->trust);
	free(e->tls_ca);
	free(e->recipient);
	free(e->reference);
	free(e->secret.path);
	free(e->subject);
	cfg_free_list(e->sans);
	free(e);
}

int cfg_enroll_parse(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		     struct m2m_enroll_config **out)
{
	const struct cfg_node *seen[E_N] = { NULL };
	struct m2m_enroll_config *e;
	bool is_map;
	int rc;

	rc = cfg_want_map(c, v, false, "a mapping with server, trust and how to authenticate", &is_map);
	if (rc)
		return rc;
	e = calloc(1, sizeof(*e));
	if (!e)
		return cfg_oom(c);
	*out = e;
	e->secret.fd = -1;
	e->timeout_ms = 30 * 1000;
	rc = cfg_walk(c, v, enroll_keys, seen, enroll_key, e);
	if (rc)
		return rc;
	if (!seen[E_SERVER])
		return cfg_missing(c, key, "server", "the http:// or https:// URL of the CA's CMP server");
	if (!seen[E_TRUST])
		return cfg_missing(c, key, "trust", "a PEM file of the CA's trust anchors");
	/* a CA file for TLS where there is none would be a setting that does nothing */
	if (seen[E_TLS_CA] && strncmp(e->server, "https://", 8) != 0)
		return cfg_fail(c, seen[E_TLS_CA], "tls_ca is for an https:// server; server is %s",
				 e->server);
	/* the two halves of MAC protection come together (RFC 9483 4.1.5) */
	if (seen[E_REFERENCE] && !seen[E_SECRET])
		return cfg_missing(c, key, "secret",
				   "where the shared secret that goes with reference comes from");
	if (seen[E_SECRET] && !seen[E_REFERENCE])
		return cfg_missing(c, key, "reference", "the reference value the CA gave with the secret");
	return M2M_OK;
}

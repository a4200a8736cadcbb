/* SPDX-License-Identifier: MIT */
/*
 * The profiles' pre-flight checks. A module above vpn and pki (it asks both,
 * and the key stores), so that neither of them depends on the other; the
 * tools print its results. A check that fails is a result with a code, not
 * an error: every check of a profile runs, so one run shows everything wrong.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "base/base.h"
#include "m2m/doctor.h"
#include "m2m/keystore.h"
#include "m2m/pki.h"
#include "m2m/vpn.h"

struct doctor {
	const struct m2m_config *cfg;
	const struct m2m_vpn_profile *p;
	struct m2m_checks *out;
	bool oom;
};

const char *m2m_check_status_name(enum m2m_check_status s)
{
	static const char *const names[] = { "ok", "warn", "fail", "skip" };

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

void m2m_checks_free(struct m2m_checks *c)
{
	unsigned version;

	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->items[i]);
	free(c->items);
	version = c->version;
	memset(c, 0, sizeof(*c));
	c->version = version;
}

static void check(struct doctor *d, const char *name, enum m2m_check_status st, int rc,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void check(struct doctor *d, const char *name, enum m2m_check_status st, int rc,
		  const char *fmt, ...)
{
	struct m2m_checks *c = d->out;
	struct m2m_check *e;
	va_list ap;

	if (st == M2M_CHECK_FAIL && !c->rc)
		c->rc = rc ? rc : M2M_ERR_FAILURE;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		struct m2m_check **ni = realloc(c->items, ncap * sizeof(*ni));

		if (!ni) {
			d->oom = true;
			return;
		}
		c->items = ni;
		c->cap = ncap;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		d->oom = true;
		return;
	}
	c->items[c->n++] = e;
	e->profile = d->p->name;
	snprintf(e->check, sizeof(e->check), "%s", name);
	e->status = st;
	e->code = st == M2M_CHECK_FAIL ? rc : 0;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

static void check_charon(struct doctor *d)
{
	const struct m2m_vpn_profile *p = d->p;
	const char *uri = d->cfg->charon.vici;
	struct m2m_err err;
	char missing[128] = "", **plugins = NULL;
	int rc;

	m2m_err_clear(&err);
	rc = m2m_vpn_charon_plugins(d->cfg, &plugins, &err);
	if (rc) {
		check(d, "charon", M2M_CHECK_FAIL, rc, "%s", err.msg);
		return;
	}
	for (const char *const *need = m2m_vpn_needed_plugins(p->auth); *need; need++) {
		bool found = false;

		for (char **it = plugins; *it; it++)
			if (strcmp(*it, *need) == 0)
				found = true;
		if (!found)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
				 missing[0] ? ", " : "", *need);
	}
	if (missing[0])
		check(d, "charon", M2M_CHECK_FAIL, M2M_ERR_DAEMON,
		      "charon at %s lacks the plugin(s) %s (add them to charon.load in strongswan.conf)",
		      uri, missing);
	else
		check(d, "charon", M2M_CHECK_OK, 0, "reachable at %s, plugins for method %s loaded", uri,
		      m2m_auth_method_name(p->auth));
	for (char **it = plugins; *it; it++)
		free(*it);
	free(plugins);
}

static void check_machine(struct doctor *d)
{
	struct m2m_machine_input in[8];
	size_t n = 0, present = 0;

	m2m_machine_inputs(in, 8, &n);
	for (size_t i = 0; i < n; i++) {
		if (in[i].present && !in[i].weak)
			present++;
		check(d, "machine-id", in[i].present && !in[i].weak ? M2M_CHECK_OK : M2M_CHECK_WARN, 0,
		      "%s (%s): %s", in[i].name, in[i].source,
		      in[i].denied ? "not readable by this user (bind as root to use it)" :
		      !in[i].present ? "missing on this machine" :
		      in[i].weak ? "present but a dummy value, not used" : "present");
	}
	if (present == 1)
		check(d, "machine-id", M2M_CHECK_WARN, 0,
		      "only one identity input: a cloned image (same machine-id) would accept the key");
}

/* The key store answers, holds the key, and the key signs. */
static void check_key(struct doctor *d, const struct m2m_key_ref *ref, struct m2m_key *k)
{
	struct m2m_key_info ki;
	struct m2m_err err;
	int rc;

	m2m_err_clear(&err);
	m2m_key_describe(k, &ki);
	if (ref->store == M2M_KEYSTORE_TPM)
		check(d, "tpm", M2M_CHECK_OK, 0, "reachable through TCTI %s", ki.tcti);
	if (ref->store == M2M_KEYSTORE_PKCS11) {
		check(d, "token", M2M_CHECK_OK, 0, "present: %s", ki.location);
		check(d, "pin", ki.pin_state == M2M_PIN_OK ? M2M_CHECK_OK : M2M_CHECK_FAIL,
		      M2M_ERR_PIN_LOCKOUT, "PIN retries: %s%s", m2m_pin_state_name(ki.pin_state),
		      ki.pin_state == M2M_PIN_OK ? "" :
		      " (a wrong PIN was given; unattended use will not try it)");
	}
	check(d, "key", M2M_CHECK_OK, 0, "%s %s, public key %s", m2m_key_type_name(ki.type),
	      ki.location, ki.fingerprint);
	if (ref->store == M2M_KEYSTORE_TPM)
		check(d, "scheme", strcmp(ki.scheme, "ecdsa-sha256") == 0 ||
		      strcmp(ki.scheme, "rsassa-sha256") == 0 ? M2M_CHECK_OK : M2M_CHECK_FAIL,
		      M2M_ERR_CREDENTIAL, "signing scheme %s%s", ki.scheme,
		      strcmp(ki.scheme, "none") == 0 ?
		      ": charon cannot sign with a key without a fixed scheme; re-create it with m2mvpn-cert keygen --store tpm" : "");
	if (ki.pin_state == M2M_PIN_OK || ref->store != M2M_KEYSTORE_PKCS11) {
		unsigned char dg[32], *sig = NULL;
		size_t siglen;
		uint64_t t0 = m2m_now_ms();

		SHA256((const unsigned char *)"m2mvpn-cert doctor", 18, dg);
		rc = m2m_key_sign(k, dg, sizeof(dg), &sig, &siglen, &err);
		if (rc)
			check(d, "sign", M2M_CHECK_FAIL, rc, "%s", err.msg);
		else
			check(d, "sign", M2M_CHECK_OK, 0, "the key signs (%llu ms)",
			      (unsigned long long)(m2m_now_ms() - t0));
		free(sig);
	}
}

/* The certificate: matches the key, valid now (and for how long), chains to the CA. */
static void check_cert(struct doctor *d, const struct m2m_cert_info *ci, struct m2m_key *k)
{
	const struct m2m_vpn_profile *p = d->p;
	struct m2m_err err;
	int rc;

	m2m_err_clear(&err);
	check(d, "cert", M2M_CHECK_OK, 0, "%s, issued by %s", ci->subject, ci->issuer);
	if (k) {
		rc = m2m_cert_matches_key(ci, k, &err);
		check(d, "match", rc ? M2M_CHECK_FAIL : M2M_CHECK_OK, rc, "%s",
		      rc ? err.msg : "the certificate belongs to the key");
	}
	rc = m2m_cert_check_time(ci, time(NULL), &err);
	if (rc) {
		check(d, "clock", M2M_CHECK_FAIL, rc, "%s", err.msg);
	} else {
		long days = (long)((ci->not_after - time(NULL)) / 86400);
		bool due = m2m_cert_renewal_due(ci, time(NULL));

		check(d, "clock", due ? M2M_CHECK_WARN : M2M_CHECK_OK, 0, "valid now, %ld days left%s",
		      days, due ? ": renew soon" : "");
	}
	if (p->cert) {
		rc = m2m_cert_verify(p->cert, p->ca, &err);
		check(d, "chain", rc ? M2M_CHECK_FAIL : M2M_CHECK_OK, rc, "%s",
		      rc ? err.msg : "chains to the configured CA");
	}
}

/*
 * The enroll: section: its trust anchors can be read, the secret of a first
 * enrolment too (never shown), and the current certificate chains to the
 * trust anchors, as a renewal's certificate must.
 */
static void check_enroll(struct doctor *d, const struct m2m_enroll_config *e, bool have_cert)
{
	char *const trust[] = { e->trust, NULL };
	struct m2m_secret s = { 0 };
	struct m2m_err err;
	int rc;

	m2m_err_clear(&err);
	if (e->reference) {
		rc = m2m_secret_read(&e->secret, "CMP secret", &s, &err);
		check(d, "enroll", rc || !s.len ? M2M_CHECK_FAIL : M2M_CHECK_OK,
		      rc ? rc : M2M_ERR_CREDENTIAL, "%s%s%s", rc ? err.msg : s.len ?
		      "the CMP secret can be read, for a first enrolment at " : "the CMP secret is empty",
		      rc || !s.len ? "" : e->server, "");
		m2m_secret_wipe(&s);
	}
	/* an https CA's TLS trust: read before any run needs it */
	if (e->tls_ca) {
		struct m2m_cert_info ci;

		rc = m2m_cert_info_file(e->tls_ca, &ci, &err);
		check(d, "enroll", rc ? M2M_CHECK_FAIL : M2M_CHECK_OK, rc ? M2M_ERR_CONFIG : 0,
		      "enroll.tls_ca %s%s", rc ? "cannot be read: " : "holds ", rc ? err.msg : ci.subject);
	}
	if (!have_cert)
		return;
	rc = m2m_cert_verify(d->p->cert, trust, &err);
	if (rc == M2M_ERR_CLOCK)
		check(d, "enroll", M2M_CHECK_WARN, 0, "%s: renewal needs a valid one, enroll again", err.msg);
	else
		check(d, "enroll", rc ? M2M_CHECK_FAIL : M2M_CHECK_OK, rc, "%s%s",
		      rc ? "the certificate and enroll.trust: " : "chains to enroll.trust, renewed at ",
		      rc ? err.msg : e->server);
}

int m2m_doctor_profile(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		       struct m2m_checks *out)
{
	const struct m2m_enroll_config *enroll = m2m_config_enroll(cfg, p);
	struct doctor d = { .cfg = cfg, .p = p, .out = out };
	struct m2m_key_ref ref;
	struct m2m_key *k = NULL;
	struct m2m_cert_info ci;
	struct m2m_err err;
	bool have_cert = false;
	int rc;

	m2m_err_clear(&err);
	if (out->version != M2M_CHECKS_VERSION)
		return M2M_ERR_USAGE;
	if (p->auth == M2M_AUTH_MACHINE)
		check_machine(&d);
	if (m2m_key_ref_from_profile(p, &ref, &err) == M2M_OK) {
		rc = m2m_key_open(&ref, &k, &err);
		if (rc)
			check(&d, "key", M2M_CHECK_FAIL, rc, "%s", err.msg);
		else
			check_key(&d, &ref, k);
	}
	m2m_err_clear(&err);
	if (p->cert) {
		rc = m2m_cert_info_file(p->cert, &ci, &err);
		if (rc == M2M_ERR_NOT_FOUND && enroll)
			check(&d, "cert", M2M_CHECK_FAIL, rc, "no certificate %s yet: m2mvpn-cert enroll -p %s",
			      p->cert, p->name);
		else if (rc)
			check(&d, "cert", M2M_CHECK_FAIL, rc, "%s", err.msg);
		else
			have_cert = true;
	} else if (k && ref.store == M2M_KEYSTORE_PKCS11) {
		rc = m2m_cert_info_key(k, &ci, &err);
		if (rc)
			check(&d, "cert", M2M_CHECK_FAIL, rc, "%s", err.msg);
		else
			have_cert = true;
	}
	if (have_cert)
		check_cert(&d, &ci, k);
	if (enroll)
		check_enroll(&d, enroll, have_cert);
	if (p->auth == M2M_AUTH_EAP || p->auth == M2M_AUTH_CERT_EAP) {
		struct m2m_secret s = { 0 };

		rc = m2m_secret_read(&p->password, "EAP password", &s, &err);
		check(&d, "password", rc ? M2M_CHECK_FAIL : s.len ? M2M_CHECK_OK : M2M_CHECK_FAIL,
		      rc ? rc : M2M_ERR_CREDENTIAL, "%s", rc ? err.msg : s.len ?
		      "the EAP password can be read" : "the EAP password is empty");
		m2m_secret_wipe(&s);
	}
	m2m_key_close(k);
	check_charon(&d);
	return d.oom ? M2M_ERR_FAILURE : M2M_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * upd-pkg: make and verify update packages through lib/update, for the tests
 * (tests/integration/300-update-sign.t, the fuzz seeds) until m2mdm-update's
 * sign and verify exist.
 *
 *   upd-pkg sign OUT PAYLOAD [type=|name=|version=|min_installed=|model=|installer=|expires=]...
 *           -- STORE cert=PEM [chain=PEM] [path=|module=|token=|id=|tcti=|handle=|pinfile=|state=]...
 *           [-- STORE ...]
 *   upd-pkg verify PKG trust=PEM model=M [signatures=N] [installed=V] [floor=V]
 *           [downgrade=V]... [now=UNIXTIME] [out=FILE]
 *
 * sign: model= may repeat; expires is RFC 3339 UTC. verify: prints the
 * manifest (canonical JSON) and the signers, writes the payload to out= if
 * given. Exit 0, or the library's code with a line on stderr.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "m2m/keystore.h"
#include "update/update.h"
#include "keyref.h"

#define MAX_SIGNERS 4

static int fail(int rc, const char *what, const char *why)
{
	fprintf(stderr, "upd-pkg: %s: %s\n", what, why);
	return rc ? rc : 1;
}

static void sign_failed(void *arg, const struct m2m_err *e)
{
	*(struct m2m_err *)arg = *e;
}

static int cmd_sign(int argc, char **argv)
{
	struct upd_manifest m = { .format = 1 };
	struct upd_signer s[MAX_SIGNERS] = { 0 };
	struct m2m_err err = { 0 }, serr = { 0 };
	size_t n = 0;
	int i, rc;

	if (argc < 4)
		return fail(2, "sign", "usage: sign OUT PAYLOAD manifest... -- STORE cert=... [--...]");
	for (i = 4; i < argc && strcmp(argv[i], "--") != 0; i++) {
		char *v = strchr(argv[i], '=');

		if (!v)
			return fail(2, argv[i], "not key=value");
		*v++ = '\0';
		if (strcmp(argv[i], "type") == 0)
			m.type = strcmp(v, "firmware") == 0 ? UPD_FIRMWARE :
				 strcmp(v, "software") == 0 ? UPD_SOFTWARE :
				 strcmp(v, "config") == 0   ? UPD_CONFIG : 0;
		else if (strcmp(argv[i], "name") == 0)
			snprintf(m.name, sizeof(m.name), "%s", v);
		else if (strcmp(argv[i], "version") == 0)
			snprintf(m.version, sizeof(m.version), "%s", v);
		else if (strcmp(argv[i], "min_installed") == 0)
			snprintf(m.min_installed, sizeof(m.min_installed), "%s", v);
		else if (strcmp(argv[i], "installer") == 0)
			snprintf(m.installer, sizeof(m.installer), "%s", v);
		else if (strcmp(argv[i], "model") == 0 && m.n_models < UPD_MODELS_MAX)
			snprintf(m.models[m.n_models++], sizeof(m.models[0]), "%s", v);
		else if (strcmp(argv[i], "expires") == 0) {
			/* through the parser: the one reader of the form */
			struct upd_manifest t;
			char buf[512];

			snprintf(buf, sizeof(buf),
				 "{\"format\":1,\"type\":\"config\",\"name\":\"x\",\"version\":\"1\",\"models\":[\"x\"],"
				 "\"size\":0,\"sha256\":\"%064d\",\"installer\":\"config\",\"expires\":\"%s\"}",
				 0, v);
			if (upd_manifest_parse(buf, strlen(buf), &t, &err) != M2M_OK)
				return fail(2, "expires", err.msg);
			m.expires = t.expires;
		} else
			return fail(2, argv[i], "unknown manifest key");
	}
	while (i < argc && strcmp(argv[i], "--") == 0) {
		struct m2m_key_ref ref = { 0 };
		struct m2m_key *k = NULL;
		EVP_PKEY *pk = NULL;

		if (++i >= argc || !m2m_key_store_parse(argv[i], &ref.store))
			return fail(2, "signer", "a store (file, pkcs11, tpm, machine) after --");
		if (n == MAX_SIGNERS)
			return fail(2, "signer", "too many");
		for (i++; i < argc && strcmp(argv[i], "--") != 0; i++) {
			char *v = strchr(argv[i], '=');

			if (!v)
				return fail(2, argv[i], "not key=value");
			*v++ = '\0';
			if (strcmp(argv[i], "cert") == 0)
				s[n].cert = v;
			else if (strcmp(argv[i], "chain") == 0)
				s[n].chain = v;
			else if (!tool_key_ref_set(&ref, argv[i], v))
				return fail(2, argv[i], "unknown signer key");
		}
		if (m2m_key_open(&ref, &k, &err) || m2m_key_pkey(k, sign_failed, &serr, &pk, &err))
			return fail(err.rc, "key", err.msg);
		m2m_key_close(k);
		s[n++].key = pk;
	}
	if (n == 0)
		return fail(2, "sign", "no signer (-- STORE cert=...)");
	rc = upd_sign(&m, argv[3], s, n, argv[2], &err);
	for (size_t j = 0; j < n; j++)
		EVP_PKEY_free(s[j].key);
	if (rc != M2M_OK) {
		/* the key store's own verdict, if a key failed to sign */
		if (serr.rc)
			return fail(serr.rc, "the key store did not sign", serr.msg);
		return fail(rc, argv[2], err.msg);
	}
	printf("%s: %llu bytes of payload\n", argv[2], (unsigned long long)m.size);
	return 0;
}

static int write_sink(void *ctx, const void *data, size_t len, struct m2m_err *err)
{
	FILE *fp = ctx;

	if (fwrite(data, 1, len, fp) != len)
		return m2m_err_set(err, M2M_ERR_STORAGE, "out: write failed");
	return M2M_OK;
}

static int cmd_verify(int argc, char **argv)
{
	struct upd_policy pol = { 0 };
	const char *downs[9] = { 0 }, *out = NULL;
	struct upd_verifier *v = NULL;
	struct m2m_err err = { 0 };
	unsigned nd = 0;
	FILE *fp = NULL, *in;
	char buf[65536], *json;
	size_t r;
	int rc;

	if (argc < 3)
		return fail(2, "verify", "usage: verify PKG trust=PEM model=M [key=value]...");
	for (int i = 3; i < argc; i++) {
		char *v2 = strchr(argv[i], '=');

		if (!v2)
			return fail(2, argv[i], "not key=value");
		*v2++ = '\0';
		if (strcmp(argv[i], "trust") == 0)
			pol.trust = v2;
		else if (strcmp(argv[i], "model") == 0)
			pol.model = v2;
		else if (strcmp(argv[i], "signatures") == 0)
			pol.signatures = (unsigned)strtoul(v2, NULL, 10);
		else if (strcmp(argv[i], "installed") == 0)
			pol.installed = v2;
		else if (strcmp(argv[i], "floor") == 0)
			pol.floor = v2;
		else if (strcmp(argv[i], "downgrade") == 0 && nd < 8)
			downs[nd++] = v2;
		else if (strcmp(argv[i], "now") == 0)
			pol.now = strtoll(v2, NULL, 10);
		else if (strcmp(argv[i], "out") == 0)
			out = v2;
		else
			return fail(2, argv[i], "unknown key");
	}
	pol.downgrades = downs;
	in = fopen(argv[2], "rb");
	if (!in)
		return fail(14, argv[2], "cannot open");
	if (out && !(fp = fopen(out, "wb")))
		return fail(1, out, "cannot create");
	rc = upd_verifier_new(&pol, fp ? write_sink : NULL, fp, &v, &err);
	while (rc == M2M_OK && (r = fread(buf, 1, sizeof(buf), in)) > 0)
		rc = upd_verifier_feed(v, buf, r, &err);
	if (rc == M2M_OK)
		rc = upd_verifier_end(v, &err);
	fclose(in);
	if (fp && fclose(fp) != 0 && rc == M2M_OK)
		rc = m2m_err_set(&err, M2M_ERR_STORAGE, "%s: write failed", out);
	if (rc != M2M_OK) {
		upd_verifier_free(v);
		if (out)
			unlink(out);
		return fail(rc, argv[2], err.msg);
	}
	json = upd_manifest_json(upd_verifier_manifest(v));
	printf("%s\n%s", json ? json : "", upd_verifier_signers(v));
	free(json);
	upd_verifier_free(v);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc, argv);
	fprintf(stderr, "usage: upd-pkg sign OUT PAYLOAD manifest... -- STORE key=value... | "
			"upd-pkg verify PKG trust=PEM model=M [key=value]...\n");
	return 2;
}

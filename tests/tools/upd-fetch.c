/* SPDX-License-Identifier: MIT */
/*
 * upd-fetch: lib/update's pull (upd_fetch) for the tests.
 *
 *   upd-fetch URL FILE [--offset N --etag E --total N] [--ca F]
 *             [--psk-id I --psk-file F] [--block-size N] [--expected N] [--max N]
 *             [--timeout S] [--stall S] [--trust PEM --model M]
 *
 * stdout: "checkpoint offset=N etag=E total=T" after each fsync (what a
 * journal would record), then "offset=N etag=E total=T sha256=H": the state
 * to resume from, and the SHA-256 of all the sink saw (it must be the file's:
 * on a resume the sink is given the bytes already on disk first).
 * --trust and --model: the streaming verifier (update.h) is the sink too, as
 * in m2mdm-update: the package is verified as it arrives (signature and
 * policy before the first payload byte, the payload's hash at the end), and
 * "verified" is printed after the state line; its error is the exit status.
 * stderr: "upd-fetch: what: why". Exit status: the m2m exit code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/base.h"
#include "update/fetch.h"

struct sink {
	EVP_MD_CTX *h;
	struct upd_verifier *v; /* NULL: no verification */
};

static int sink(void *ctx, const void *data, size_t len, struct m2m_err *err)
{
	struct sink *k = ctx;

	EVP_DigestUpdate(k->h, data, len);
	return k->v ? upd_verifier_feed(k->v, data, len, err) : M2M_OK;
}

static int checkpoint(void *ctx, const struct upd_fetch_state *st, struct m2m_err *err)
{
	(void)ctx, (void)err;
	printf("checkpoint offset=%llu etag=%s total=%llu\n", (unsigned long long)st->offset,
	       st->etag, (unsigned long long)st->total);
	fflush(stdout);
	return M2M_OK;
}

static unsigned seconds_ms(const char *s)
{
	return (unsigned)(strtod(s, NULL) * 1000);
}

static int usage(void)
{
	fprintf(stderr, "usage: upd-fetch URL FILE [--offset N --etag E --total N] [--ca F] "
			"[--psk-id I --psk-file F] [--block-size N] [--expected N] [--max N] "
			"[--timeout S] [--stall S] [--trust PEM --model M]\n");
	return M2M_ERR_USAGE;
}

int main(int argc, char **argv)
{
	struct upd_fetch_opts o = { 0 };
	struct upd_fetch_state st = { 0 };
	struct m2m_coap_opts co = { .security = M2M_DM_NOSEC };
	struct upd_policy pol = { 0 };
	struct sink k = { 0 };
	struct m2m_err err = { 0 };
	char *psk = NULL, hex[65];
	uint8_t md[32];
	size_t psk_len = 0;
	int rc;

	if (argc < 3)
		return usage();
	o.url = argv[1];
	o.path = argv[2];
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "--offset"))
			st.offset = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--etag"))
			snprintf(st.etag, sizeof(st.etag), "%s", v);
		else if (!strcmp(a, "--total"))
			st.total = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--ca"))
			o.ca = co.ca = v;
		else if (!strcmp(a, "--psk-id"))
			co.psk_identity = v;
		else if (!strcmp(a, "--psk-file")) {
			if (m2m_read_file(v, 64, &psk, &psk_len, &err)) {
				fprintf(stderr, "upd-fetch: %s\n", err.msg);
				return err.rc;
			}
			if (psk_len && psk[psk_len - 1] == '\n')
				psk_len--;
		} else if (!strcmp(a, "--block-size"))
			co.block_size = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--expected"))
			o.expected = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--max"))
			o.max = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--timeout"))
			o.timeout_ms = seconds_ms(v);
		else if (!strcmp(a, "--stall"))
			o.stall_ms = seconds_ms(v);
		else if (!strcmp(a, "--trust"))
			pol.trust = v;
		else if (!strcmp(a, "--model"))
			pol.model = v;
		else
			return usage();
	}
	if (psk) {
		co.security = M2M_DM_PSK;
		co.psk_key = (const uint8_t *)psk;
		co.psk_len = psk_len;
	}
	o.coap = &co;
	if (!pol.trust != !pol.model)
		return usage();
	k.h = EVP_MD_CTX_new();
	if (!k.h || !EVP_DigestInit_ex(k.h, EVP_sha256(), NULL))
		return M2M_ERR_FAILURE;
	if (pol.trust && (rc = upd_verifier_new(&pol, NULL, NULL, &k.v, &err))) {
		fprintf(stderr, "upd-fetch: %s\n", err.msg);
		return rc;
	}
	o.sink = sink;
	o.sink_ctx = &k;
	o.checkpoint = checkpoint;
	rc = upd_fetch(&o, &st, &err);
	EVP_DigestFinal_ex(k.h, md, NULL);
	EVP_MD_CTX_free(k.h);
	m2m_hex(md, sizeof(md), hex, sizeof(hex));
	printf("offset=%llu etag=%s total=%llu sha256=%s\n", (unsigned long long)st.offset, st.etag,
	       (unsigned long long)st.total, hex);
	if (!rc && k.v && !(rc = upd_verifier_end(k.v, &err)))
		printf("verified\n");
	upd_verifier_free(k.v);
	if (rc)
		fprintf(stderr, "upd-fetch: %s\n", err.msg);
	free(psk);
	return rc;
}

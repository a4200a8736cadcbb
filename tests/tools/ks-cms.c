/* SPDX-License-Identifier: MIT */
/*
 * ks-cms: sign a file as CMS (CMS_sign) with a key of any store, through
 * m2m_key_pkey(), for tests/integration/102-keys-cms.t.
 *
 *   ks-cms OUT.der CERT.pem DATA STORE [path=|module=|token=|id=|tcti=|handle=|pinfile=|state=]...
 *
 * Writes the signed data (content included, DER). Exit 0, or the key
 * store's code (the failed signature's, if one failed) with a line on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "m2m/keystore.h"
#include "keyref.h"

static void sign_failed(void *arg, const struct m2m_err *e)
{
	*(struct m2m_err *)arg = *e;
}

static int fail(int rc, const char *what, const char *why)
{
	fprintf(stderr, "ks-cms: %s: %s\n", what, why);
	return rc ? rc : 1;
}

int main(int argc, char **argv)
{
	struct m2m_key_ref ref = { 0 };
	struct m2m_err err = { 0 }, serr = { 0 };
	struct m2m_key *k = NULL;
	EVP_PKEY *pk = NULL;
	CMS_ContentInfo *cms;
	BIO *in, *out;
	X509 *x;
	FILE *fp;

	if (argc < 5 || !m2m_key_store_parse(argv[4], &ref.store)) {
		fprintf(stderr, "usage: ks-cms OUT.der CERT.pem DATA STORE [key=value]...\n");
		return 2;
	}
	for (int i = 5; i < argc; i++) {
		char *v = strchr(argv[i], '=');

		if (!v)
			return fail(2, argv[i], "not key=value");
		*v++ = '\0';
		if (!tool_key_ref_set(&ref, argv[i], v))
			return fail(2, argv[i], "unknown key");
	}
	if (m2m_key_open(&ref, &k, &err) || m2m_key_pkey(k, sign_failed, &serr, &pk, &err))
		return fail(err.rc, "key", err.msg);
	/* the EVP_PKEY keeps the key open: the caller's handle may go first */
	m2m_key_close(k);
	fp = fopen(argv[2], "r");
	x = fp ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
	if (fp)
		fclose(fp);
	if (!x)
		return fail(9, argv[2], "not a PEM certificate");
	in = BIO_new_file(argv[3], "rb");
	if (!in)
		return fail(14, argv[3], "cannot open");
	cms = CMS_sign(x, pk, NULL, in, CMS_BINARY);
	if (!cms) {
		if (serr.rc)
			return fail(serr.rc, "the key store did not sign", serr.msg);
		return fail(9, "CMS_sign", ERR_reason_error_string(ERR_peek_last_error()) ?: "failed");
	}
	out = BIO_new_file(argv[1], "wb");
	if (!out || !i2d_CMS_bio(out, cms))
		return fail(1, argv[1], "cannot write");
	BIO_free(out);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	X509_free(x);
	EVP_PKEY_free(pk);
	return 0;
}

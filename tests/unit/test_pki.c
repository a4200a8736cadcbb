/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of lib/pki: CSRs signed through the key store (subject and SAN
 * syntax, both key types, the request verifies and carries what was asked),
 * certificate facts, key match, the clock check and the renewal threshold.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "m2m/keystore.h"
#include "m2m/pki.h"
#include "pki/pki_int.h"

static char dir[64], keyp[128], rsap[128];
static struct m2m_key *ec, *rsa;

static int setup(void **state)
{
	struct m2m_key_ref r = { .store = M2M_KEYSTORE_FILE, .pin = { .fd = -1 } };
	struct m2m_err err = { 0 };

	snprintf(dir, sizeof(dir), "/tmp/m2m-pki-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(keyp, sizeof(keyp), "%s/ec.key", dir);
	snprintf(rsap, sizeof(rsap), "%s/rsa.key", dir);
	r.path = keyp;
	if (m2m_key_generate(&r, M2M_KEY_EC_P256, false, &err) || m2m_key_open(&r, &ec, &err))
		return -1;
	r.path = rsap;
	if (m2m_key_generate(&r, M2M_KEY_RSA_2048, false, &err) || m2m_key_open(&r, &rsa, &err))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	m2m_key_close(ec);
	m2m_key_close(rsa);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static X509_REQ *parse_req(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);

	BIO_free(b);
	assert_non_null(req);
	return req;
}

static void test_csr_ec(void **state)
{
	const char *sans[] = { "dev1.lab", "IP:10.0.0.5", "ops@example.com", "fd00::1", NULL };
	struct m2m_err err = { 0 };
	char *pem = NULL, subj[256];
	X509_REQ *req;
	EVP_PKEY *pk;
	STACK_OF(X509_EXTENSION) *exts;
	GENERAL_NAMES *gens = NULL;

	assert_int_equal(m2m_csr_make(ec, "CN=dev1.lab,O=ACME,serialNumber=42", sans, &pem, &err),
			 M2M_OK);
	req = parse_req(pem);
	pk = X509_REQ_get_pubkey(req);
	assert_int_equal(X509_REQ_verify(req, pk), 1);
	X509_NAME_oneline(X509_REQ_get_subject_name(req), subj, sizeof(subj));
	assert_string_equal(subj, "/CN=dev1.lab/O=ACME/serialNumber=42");
	assert_int_equal(X509_REQ_get_signature_nid(req), NID_ecdsa_with_SHA256);
	exts = X509_REQ_get_extensions(req);
	for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts); i++)
		if (OBJ_obj2nid(X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i))) ==
		    NID_subject_alt_name)
			gens = X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts, i));
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 4);
	assert_int_equal(sk_GENERAL_NAME_value(gens, 0)->type, GEN_DNS);
	assert_int_equal(sk_GENERAL_NAME_value(gens, 1)->type, GEN_IPADD);
	assert_int_equal(sk_GENERAL_NAME_value(gens, 2)->type, GEN_EMAIL);
	assert_int_equal(sk_GENERAL_NAME_value(gens, 3)->type, GEN_IPADD);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	EVP_PKEY_free(pk);
	X509_REQ_free(req);
	free(pem);
}

static void test_csr_rsa_slash_subject(void **state)
{
	struct m2m_err err = { 0 };
	char *pem = NULL, subj[256];
	X509_REQ *req;
	EVP_PKEY *pk;

	assert_int_equal(m2m_csr_make(rsa, "/CN=dev2/O=ACME Corp", NULL, &pem, &err), M2M_OK);
	req = parse_req(pem);
	pk = X509_REQ_get_pubkey(req);
	assert_int_equal(X509_REQ_verify(req, pk), 1);
	assert_int_equal(X509_REQ_get_signature_nid(req), NID_sha256WithRSAEncryption);
	X509_NAME_oneline(X509_REQ_get_subject_name(req), subj, sizeof(subj));
	assert_string_equal(subj, "/CN=dev2/O=ACME Corp");
	EVP_PKEY_free(pk);
	X509_REQ_free(req);
	free(pem);
}

static void test_csr_errors(void **state)
{
	const char *bad_ip[] = { "IP:10.0.0.300", NULL };
	const char *empty[] = { "DNS:", NULL };
	struct m2m_err err = { 0 };
	char *pem = NULL;

	assert_int_equal(m2m_csr_make(ec, NULL, NULL, &pem, &err), M2M_ERR_USAGE);
	assert_int_equal(m2m_csr_make(ec, "CN", NULL, &pem, &err), M2M_ERR_USAGE);
	assert_non_null(strstr(err.msg, "is not TYPE=value"));
	assert_int_equal(m2m_csr_make(ec, "XYZ=1", NULL, &pem, &err), M2M_ERR_USAGE);
	assert_non_null(strstr(err.msg, "unknown attribute type 'XYZ'"));
	assert_int_equal(m2m_csr_make(ec, "CN=x", bad_ip, &pem, &err), M2M_ERR_USAGE);
	assert_non_null(strstr(err.msg, "not an address"));
	assert_int_equal(m2m_csr_make(ec, "CN=x", empty, &pem, &err), M2M_ERR_USAGE);
	assert_null(pem);
}

/* a self-signed certificate for the EC key, valid from nb to na (seconds from now) */
static char *self_signed(long nb, long na)
{
	static char path[160];
	X509 *x = X509_new();
	EVP_PKEY *pk = NULL;
	FILE *fp = fopen(keyp, "r");

	assert_non_null(fp);
	pk = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_gmtime_adj(X509_getm_notBefore(x), nb);
	X509_gmtime_adj(X509_getm_notAfter(x), na);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"self", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, pk);
	X509_sign(x, pk, EVP_sha256());
	snprintf(path, sizeof(path), "%s/self.pem", dir);
	fp = fopen(path, "w");
	PEM_write_X509(fp, x);
	fclose(fp);
	X509_free(x);
	EVP_PKEY_free(pk);
	return path;
}

static void test_cert_checks(void **state)
{
	struct m2m_cert_info ci;
	struct m2m_err err = { 0 };
	char *path = self_signed(-3600, 3600);
	char *ca[] = { path, NULL };

	assert_int_equal(m2m_cert_info_file(path, &ci, &err), M2M_OK);
	assert_string_equal(ci.subject, "/CN=self");
	assert_string_equal(ci.serial, "1092");
	assert_int_equal(ci.key_type, M2M_KEY_EC_P256);
	assert_int_equal(m2m_cert_matches_key(&ci, ec, &err), M2M_OK);
	assert_int_equal(m2m_cert_matches_key(&ci, rsa, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "does not match key"));
	assert_int_equal(m2m_cert_check_time(&ci, time(NULL), &err), M2M_OK);
	assert_int_equal(m2m_cert_check_time(&ci, time(NULL) + 7200, &err), M2M_ERR_CLOCK);
	assert_non_null(strstr(err.msg, "expired on"));
	assert_int_equal(m2m_cert_check_time(&ci, time(NULL) - 7200, &err), M2M_ERR_CLOCK);
	assert_non_null(strstr(err.msg, "not valid before"));
	assert_int_equal(m2m_cert_verify(path, ca, &err), M2M_OK);
	path = self_signed(-7200, -3600);
	assert_int_equal(m2m_cert_verify(path, ca, &err), M2M_ERR_CLOCK);
	assert_int_equal(m2m_cert_info_file("/nonexistent.pem", &ci, &err), M2M_ERR_NOT_FOUND);
}

/* The one clock check (doctor, connect, credentials) and the one renewal threshold. */
static void test_validity_and_renewal(void **state)
{
	struct m2m_cert_info ci = { .not_before = 1000000, .not_after = 2000000 };
	struct m2m_err err = { 0 };

	(void)state;
	assert_int_equal(pki_check_validity(1000000, 2000000, 1000000, "x", &err), M2M_OK);
	assert_int_equal(pki_check_validity(1000000, 2000000, 2000000, "x", &err), M2M_OK);
	assert_int_equal(pki_check_validity(1000000, 2000000, 999999, "our certificate", &err),
			 M2M_ERR_CLOCK);
	assert_string_equal(err.msg, "our certificate is not valid before 1970-01-12 13:46:40Z (check the clock)");
	assert_int_equal(pki_check_validity(1000000, 2000000, 2000001, "certificate /CN=a", &err),
			 M2M_ERR_CLOCK);
	assert_string_equal(err.msg, "certificate /CN=a expired on 1970-01-24 03:33:20Z");
	assert_int_equal(pki_check_validity(1000000, 2000000, 2000001, "x", NULL), M2M_ERR_CLOCK);
	assert_int_equal(M2M_CERT_RENEW_DAYS, 30);
	assert_false(m2m_cert_renewal_due(&ci, ci.not_after - 30 * 86400 - 1));
	assert_true(m2m_cert_renewal_due(&ci, ci.not_after - 30 * 86400 + 1));
	assert_true(m2m_cert_renewal_due(&ci, ci.not_after + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csr_ec),
		cmocka_unit_test(test_csr_rsa_slash_subject),
		cmocka_unit_test(test_csr_errors),
		cmocka_unit_test(test_cert_checks),
		cmocka_unit_test(test_validity_and_renewal),
	};

	umask(077);
	return cmocka_run_group_tests(tests, setup, teardown);
}

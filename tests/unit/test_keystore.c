/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the key store: the PIN retry policy (token states SoftHSM
 * never reports), the machine-binding derivation (determinism, field
 * separation, a known answer computed with `openssl kdf`), the argument
 * checks, and the file and machine stores end to end on temporary files,
 * including "another machine" through the test-only input overrides.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "keystore/ks_int.h"
#include "m2m/keystore.h"

/* ---- PIN policy ---------------------------------------------------------- */

#define LOW (1UL << 16)
#define FINAL (1UL << 17)
#define LOCKED (1UL << 18)

static void test_pin_state(void **state)
{
	assert_int_equal(ks_pin_state(0), M2M_PIN_OK);
	assert_int_equal(ks_pin_state(0x40d), M2M_PIN_OK); /* other flags do not matter */
	assert_int_equal(ks_pin_state(LOW), M2M_PIN_LOW);
	assert_int_equal(ks_pin_state(LOW | FINAL), M2M_PIN_FINAL);
	assert_int_equal(ks_pin_state(FINAL), M2M_PIN_FINAL);
	assert_int_equal(ks_pin_state(LOCKED | LOW), M2M_PIN_LOCKED);
}

static void test_pin_policy(void **state)
{
	struct m2m_err err = { 0 };

	assert_int_equal(ks_pin_policy(M2M_PIN_OK, false, "t", &err), M2M_OK);
	assert_int_equal(ks_pin_policy(M2M_PIN_OK, true, "t", &err), M2M_OK);
	/* unattended: few retries left means stop, and say so with its own code */
	assert_int_equal(ks_pin_policy(M2M_PIN_LOW, false, "card", &err), M2M_ERR_PIN_LOCKOUT);
	assert_non_null(strstr(err.msg, "token 'card'"));
	assert_non_null(strstr(err.msg, "not tried"));
	/* a person at a terminal may try while retries are low, never on the final one */
	assert_int_equal(ks_pin_policy(M2M_PIN_LOW, true, "card", &err), M2M_OK);
	assert_int_equal(ks_pin_policy(M2M_PIN_FINAL, true, "card", &err), M2M_ERR_PIN_LOCKOUT);
	assert_int_equal(ks_pin_policy(M2M_PIN_FINAL, false, "card", &err), M2M_ERR_PIN_LOCKOUT);
	assert_int_equal(ks_pin_policy(M2M_PIN_LOCKED, true, "card", &err), M2M_ERR_PIN_LOCKOUT);
	assert_non_null(strstr(err.msg, "locked"));
	assert_int_equal(M2M_ERR_PIN_LOCKOUT, 13);
}

/* ---- argument checks ------------------------------------------------------ */

static void check_usage(const struct m2m_key_ref *r, bool gen, const char *part)
{
	struct m2m_err err = { 0 };

	assert_int_equal(m2m_key_ref_check(r, gen, &err), M2M_ERR_USAGE);
	if (!strstr(err.msg, part))
		fail_msg("message '%s' lacks '%s'", err.msg, part);
}

static void test_ref_check(void **state)
{
	struct m2m_key_ref r = { .store = M2M_KEYSTORE_FILE };
	struct m2m_err err = { 0 };

	check_usage(NULL, false, "no key reference");
	check_usage(&r, false, "no key file");
	r.store = M2M_KEYSTORE_MACHINE;
	check_usage(&r, false, "machine key: no key file");
	r = (struct m2m_key_ref){ .store = M2M_KEYSTORE_PKCS11 };
	check_usage(&r, false, "no module");
	r.module = "libsofthsm2.so";
	check_usage(&r, false, "not an absolute path");
	r.module = "/usr/lib/softhsm/libsofthsm2.so";
	check_usage(&r, false, "no id or label");
	r.id = "0g";
	check_usage(&r, false, "not hex");
	r.id = "012";
	check_usage(&r, false, "not hex");
	r.id = NULL;
	r.label = "devkey";
	r.pin.source = M2M_SECRET_PROMPT;
	assert_int_equal(m2m_key_ref_check(&r, false, &err), M2M_OK);
	check_usage(&r, true, "generating needs an id");
	r.id = "01";
	r.pin.source = M2M_SECRET_NONE;
	check_usage(&r, true, "no PIN source");
	r.pin.source = M2M_SECRET_FILE;
	assert_int_equal(m2m_key_ref_check(&r, true, &err), M2M_OK);
	r = (struct m2m_key_ref){ .store = M2M_KEYSTORE_TPM };
	assert_int_equal(m2m_key_ref_check(&r, true, &err), M2M_OK); /* defaults */
	r.handle = 0x80000001;
	check_usage(&r, false, "not a persistent handle");
	r.handle = 0x81010002;
	r.tcti = "";
	check_usage(&r, false, "empty TCTI");
	r = (struct m2m_key_ref){ .store = (enum m2m_key_store)9 };
	check_usage(&r, false, "unknown key store");
}

static void test_names(void **state)
{
	enum m2m_key_store s;
	enum m2m_key_type t;

	assert_true(m2m_key_store_parse("tpm", &s));
	assert_int_equal(s, M2M_KEYSTORE_TPM);
	assert_true(m2m_key_store_parse("machine", &s));
	assert_int_equal(s, M2M_KEYSTORE_MACHINE);
	assert_false(m2m_key_store_parse("TPM", &s));
	assert_false(m2m_key_store_parse(NULL, &s));
	assert_true(m2m_key_type_parse("rsa", &t));
	assert_int_equal(t, M2M_KEY_RSA_2048);
	assert_true(m2m_key_type_parse("rsa3072", &t));
	assert_int_equal(t, M2M_KEY_RSA_3072);
	assert_true(m2m_key_type_parse("ec", &t));
	assert_int_equal(t, M2M_KEY_EC_P256);
	assert_false(m2m_key_type_parse("rsa1024", &t));
	assert_string_equal(m2m_key_store_name(M2M_KEYSTORE_PKCS11), "pkcs11");
	assert_string_equal(m2m_key_type_name(M2M_KEY_EC_P256), "ecdsa-p256");
	assert_string_equal(m2m_pin_state_name(M2M_PIN_FINAL), "final-try");
}

/* ---- derivation ------------------------------------------------------------ */

static void test_derive(void **state)
{
	static const unsigned char salt[4] = { 0x00, 0x01, 0x02, 0x03 };
	struct ks_machine_value v[] = { { "machine-id", "abc" }, { "dmi-product-uuid", "u-1" } };
	struct ks_machine_value w[] = { { "machine-id", "abc" }, { "dmi-product-uuid", "u-2" } };
	struct ks_machine_value s1[] = { { "a", "bc" } }, s2[] = { { "ab", "c" } };
	unsigned char k1[32], k2[32], k3[32];
	char hex[80];

	assert_int_equal(ks_machine_derive(v, 2, salt, sizeof(salt), k1), 0);
	assert_int_equal(ks_machine_derive(v, 2, salt, sizeof(salt), k2), 0);
	assert_memory_equal(k1, k2, 32);
	assert_int_equal(ks_machine_derive(w, 2, salt, sizeof(salt), k3), 0);
	assert_memory_not_equal(k1, k3, 32);
	assert_int_equal(ks_machine_derive(v, 2, salt, 3, k3), 0);
	assert_memory_not_equal(k1, k3, 32);
	/* fields cannot shift into each other */
	assert_int_equal(ks_machine_derive(s1, 1, salt, sizeof(salt), k1), 0);
	assert_int_equal(ks_machine_derive(s2, 1, salt, sizeof(salt), k2), 0);
	assert_memory_not_equal(k1, k2, 32);
	/*
	 * Known answer, from the documented derivation with another implementation:
	 * openssl kdf -keylen 32 -kdfopt digest:SHA256
	 *   -kdfopt key:'machine-id:3:abc|dmi-product-uuid:3:u-1' -kdfopt hexsalt:00010203
	 *   -kdfopt info:m2m/machine-key/v1 HKDF
	 */
	assert_int_equal(ks_machine_derive(v, 2, salt, sizeof(salt), k1), 0);
	ks_hex_encode(k1, 32, hex, sizeof(hex));
	assert_string_equal(hex, "5ac1ff6fa52d70ed7ecf79e1770737a85db329eba6420d5dd41483415a61d856");
}

/* ---- stores on files --------------------------------------------------------- */

static char dir[64];

static int setup_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/m2m-ks-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	return 0;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(path, mode);
}

/* sign a digest and verify the signature with the key's public part */
static void sign_verify(struct m2m_key *k)
{
	unsigned char dg[32], *sig = NULL, *spki = NULL;
	const unsigned char *p;
	size_t siglen = 0, spkilen = 0;
	struct m2m_err err = { 0 };
	EVP_PKEY *pub;
	EVP_PKEY_CTX *ctx;

	SHA256((const unsigned char *)"m2m", 3, dg);
	assert_int_equal(m2m_key_sign(k, dg, 31, &sig, &siglen, &err), M2M_ERR_USAGE);
	assert_int_equal(m2m_key_sign(k, dg, 32, &sig, &siglen, &err), M2M_OK);
	assert_int_equal(m2m_key_public_der(k, &spki, &spkilen, &err), M2M_OK);
	p = spki;
	pub = d2i_PUBKEY(NULL, &p, (long)spkilen);
	assert_non_null(pub);
	ctx = EVP_PKEY_CTX_new(pub, NULL);
	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_verify(ctx, sig, siglen, dg, 32), 1);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pub);
	free(sig);
	free(spki);
}

static void test_file_store(void **state)
{
	char key[256], enc[256], pin[256];
	struct m2m_key_ref r = { .store = M2M_KEYSTORE_FILE };
	struct m2m_key *k = NULL;
	struct m2m_key_info info;
	struct m2m_err err = { 0 };

	snprintf(key, sizeof(key), "%s/dev.key", dir);
	snprintf(enc, sizeof(enc), "%s/enc.key", dir);
	snprintf(pin, sizeof(pin), "%s/pin", dir);
	r.path = key;
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_NOT_FOUND);
	assert_int_equal(m2m_key_generate(&r, M2M_KEY_UNKNOWN, false, &err), M2M_OK);
	assert_int_equal(m2m_key_generate(&r, M2M_KEY_EC_P256, false, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "not replaced"));
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_OK);
	m2m_key_describe(k, &info);
	assert_int_equal(info.type, M2M_KEY_EC_P256);
	assert_int_equal(info.store, M2M_KEYSTORE_FILE);
	assert_int_equal(strncmp(info.fingerprint, "SHA256:", 7), 0);
	sign_verify(k);
	m2m_key_close(k);

	/* PIN-encrypted, RSA */
	write_file("pin", "s3cret-pin\n", 0600);
	r.path = enc;
	r.pin = (struct m2m_secret_ref){ .source = M2M_SECRET_FILE, .path = pin, .fd = -1 };
	assert_int_equal(m2m_key_generate(&r, M2M_KEY_RSA_2048, false, &err), M2M_OK);
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_OK);
	m2m_key_describe(k, &info);
	assert_int_equal(info.type, M2M_KEY_RSA_2048);
	assert_true(info.pin_needed);
	sign_verify(k);
	m2m_key_close(k);
	/* wrong PIN: a credential problem, named */
	write_file("pin", "wrong-pin\n", 0600);
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "wrong PIN"));
	/* no PIN source for an encrypted key */
	r.pin.source = M2M_SECRET_NONE;
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "encrypted"));
	/* a PIN file others can read is refused */
	write_file("pin", "s3cret-pin\n", 0644);
	r.pin.source = M2M_SECRET_FILE;
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "readable by others"));
	assert_int_equal(m2m_key_delete(&r, &err), M2M_OK);
	assert_int_equal(m2m_key_delete(&r, &err), M2M_ERR_NOT_FOUND);
}

static void machine_env(const char *mid, const char *uuid)
{
	char path[256];

	write_file("machine-id", mid, 0644);
	snprintf(path, sizeof(path), "%s/machine-id", dir);
	setenv("M2M_MACHINE_ID_FILE", path, 1);
	snprintf(path, sizeof(path), "%s/dmi", dir);
	mkdir(path, 0755);
	setenv("M2M_DMI_DIR", path, 1);
	snprintf(path, sizeof(path), "%s/dmi/product_uuid", dir);
	unlink(path);
	if (uuid)
		write_file("dmi/product_uuid", uuid, 0400);
}

static void test_machine_store(void **state)
{
	struct m2m_key_ref r = { .store = M2M_KEYSTORE_MACHINE };
	struct m2m_machine_input in[8];
	struct m2m_key *k = NULL;
	struct m2m_err err = { 0 };
	char key[256], copy[256], *text = NULL;
	size_t n = 0, len;

	snprintf(key, sizeof(key), "%s/bound.key", dir);
	r.path = key;
	machine_env("0123456789abcdef0123456789abcdef\n", "4c4c4544-0042-3510-8052-b4c04f4e4d32\n");
	m2m_machine_inputs(in, 8, &n);
	assert_int_equal(n, 3);
	assert_string_equal(in[0].name, "machine-id");
	assert_true(in[0].present);
	assert_true(in[1].present);
	assert_false(in[1].weak);
	assert_false(in[2].present); /* no product_serial */

	assert_int_equal(m2m_key_generate(&r, M2M_KEY_EC_P256, false, &err), M2M_OK);
	assert_int_equal(m2m_read_file(key, 65536, &text, &len, &err), M2M_OK);
	assert_non_null(strstr(text, "inputs: machine-id,dmi-product-uuid\n"));
	assert_non_null(strstr(text, "kdf: hkdf-sha256\n"));
	free(text);
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_OK);
	sign_verify(k);
	m2m_key_close(k);

	/* another machine: another machine-id */
	machine_env("fedcba9876543210fedcba9876543210\n", "4c4c4544-0042-3510-8052-b4c04f4e4d32\n");
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "bound to another machine"));
	/* a machine without DMI */
	machine_env("0123456789abcdef0123456789abcdef\n", NULL);
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "dmi-product-uuid"));
	assert_non_null(strstr(err.msg, "missing"));
	/* back home: works again */
	machine_env("0123456789abcdef0123456789abcdef\n", "4c4c4544-0042-3510-8052-b4c04f4e4d32\n");
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_OK);
	m2m_key_close(k);

	/* a tampered input list is detected (the header is authenticated) */
	assert_int_equal(m2m_read_file(key, 65536, &text, &len, &err), M2M_OK);
	{
		char *p = strstr(text, "inputs: machine-id,dmi-product-uuid");

		assert_non_null(p);
		memmove(p + 18, p + 35, strlen(p + 35) + 1); /* drop ",dmi-product-uuid" */
	}
	snprintf(copy, sizeof(copy), "%s/tampered.key", dir);
	assert_int_equal(m2m_write_atomic(copy, text, strlen(text), 0600, &err), M2M_OK);
	free(text);
	r.path = copy;
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "another machine"));

	/* a dummy DMI UUID is not an identity: not bound to */
	machine_env("0123456789abcdef0123456789abcdef\n", "00000000-0000-0000-0000-000000000000\n");
	m2m_machine_inputs(in, 8, &n);
	assert_true(in[1].weak);
	r.path = key;
	assert_int_equal(m2m_key_generate(&r, M2M_KEY_EC_P256, true, &err), M2M_OK);
	assert_int_equal(m2m_read_file(key, 65536, &text, &len, &err), M2M_OK);
	assert_non_null(strstr(text, "inputs: machine-id\n"));
	free(text);
	/* nothing at all to bind to */
	setenv("M2M_MACHINE_ID_FILE", "/nonexistent/machine-id", 1);
	unsetenv("M2M_DMI_DIR");
	setenv("M2M_DMI_DIR", "/nonexistent", 1);
	assert_int_equal(m2m_key_generate(&r, M2M_KEY_EC_P256, true, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "no machine identity"));
	unsetenv("M2M_MACHINE_ID_FILE");
	unsetenv("M2M_DMI_DIR");
}

static void test_import(void **state)
{
	struct m2m_key_ref src = { .store = M2M_KEYSTORE_FILE }, dst = { .store = M2M_KEYSTORE_MACHINE };
	struct m2m_secret_ref none = { .fd = -1 };
	struct m2m_key *a = NULL, *b = NULL;
	struct m2m_key_info ia, ib;
	struct m2m_err err = { 0 };
	char s[256], d[256];

	machine_env("0123456789abcdef0123456789abcdef\n", NULL);
	snprintf(s, sizeof(s), "%s/soft.key", dir);
	snprintf(d, sizeof(d), "%s/imported.key", dir);
	src.path = s;
	dst.path = d;
	assert_int_equal(m2m_key_generate(&src, M2M_KEY_EC_P256, true, &err), M2M_OK);
	assert_int_equal(m2m_key_import(&dst, s, &none, NULL, false, &err), M2M_OK);
	assert_int_equal(m2m_key_open(&src, &a, &err), M2M_OK);
	assert_int_equal(m2m_key_open(&dst, &b, &err), M2M_OK);
	m2m_key_describe(a, &ia);
	m2m_key_describe(b, &ib);
	assert_string_equal(ia.fingerprint, ib.fingerprint);
	m2m_key_close(a);
	m2m_key_close(b);
	dst.store = M2M_KEYSTORE_TPM;
	assert_int_equal(m2m_key_import(&dst, s, &none, NULL, false, &err), M2M_ERR_USAGE);
	unsetenv("M2M_MACHINE_ID_FILE");
	unsetenv("M2M_DMI_DIR");
}

/* Damaged key files: refused as such, never read past. */
static void test_machine_parse(void **state)
{
	static const char head[] = "m2m-machine-key: 1\ninputs: machine-id\nsalt: "
				   "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
				   "nonce: 000102030405060708090a0b\n";
	struct ks_machine_file mf;
	struct m2m_err err = { 0 };
	char buf[512];

	assert_int_equal(ks_machine_parse("", &mf, "f", &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "not a machine-bound key file"));
	snprintf(buf, sizeof(buf), "%sdata: ====\n", head);
	assert_int_equal(ks_machine_parse(buf, &mf, "f", &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "damaged data"));
	assert_null(mf.ct);
	snprintf(buf, sizeof(buf), "%sdata: QUJD\n", head); /* 3 bytes: shorter than a tag */
	assert_int_equal(ks_machine_parse(buf, &mf, "f", &err), M2M_ERR_CREDENTIAL);
	snprintf(buf, sizeof(buf), "%sdata: QUJDRA=\n", head); /* not a multiple of 4 */
	assert_int_equal(ks_machine_parse(buf, &mf, "f", &err), M2M_ERR_CREDENTIAL);
	snprintf(buf, sizeof(buf), "%sdata: %s\n", head,
		 "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="); /* 26 bytes */
	assert_int_equal(ks_machine_parse(buf, &mf, "f", &err), M2M_OK);
	assert_int_equal(mf.ctlen, 26);
	assert_string_equal(mf.names, "machine-id");
	assert_int_equal(mf.hlen, strlen(head));
	free(mf.ct);
	snprintf(buf, sizeof(buf), "%sdata: %s\n", head, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=");
	assert_int_equal(buf[39], 'a');
	buf[39] = 'x'; /* "salt:" -> "sxlt:": no salt */
	assert_int_equal(ks_machine_parse(buf, &mf, "f", &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "not a machine-bound key file"));
}

/* A TPM behind a TCTI that is not there: exit code 9 and the TCTI named. */
static void test_tpm_unreachable(void **state)
{
	struct m2m_key_ref r = { .store = M2M_KEYSTORE_TPM,
				 .tcti = "swtpm:path=/nonexistent/swtpm.sock" };
	struct m2m_key *k = NULL;
	struct m2m_err err = { 0 };

	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "TPM not reachable through TCTI 'swtpm:path=/nonexistent/swtpm.sock'"));
	assert_null(k);
}

/* A PKCS#11 module that cannot be loaded. */
static void test_pkcs11_no_module(void **state)
{
	struct m2m_key_ref r = { .store = M2M_KEYSTORE_PKCS11, .module = "/nonexistent/p11.so",
				 .id = "01", .pin = { .source = M2M_SECRET_PROMPT } };
	struct m2m_key *k = NULL;
	struct m2m_err err = { 0 };

	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "PKCS#11 module /nonexistent/p11.so"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_state),
		cmocka_unit_test(test_pin_policy),
		cmocka_unit_test(test_ref_check),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_derive),
		cmocka_unit_test(test_file_store),
		cmocka_unit_test(test_machine_store),
		cmocka_unit_test(test_import),
		cmocka_unit_test(test_machine_parse),
		cmocka_unit_test(test_tpm_unreachable),
		cmocka_unit_test(test_pkcs11_no_module),
	};

	umask(077);
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}

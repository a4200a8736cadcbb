/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the key store: the PIN retry policy (token states SoftHSM
 * never reports), the machine-binding derivation (determinism, field
 * separation, a known answer computed with `openssl kdf`), the argument
 * checks, and the file and machine stores end to end on temporary files,
 * including "another machine" through the test-only input overrides.
 * Import: the PKCS#11 object templates (what a token would be given,
 * checked without a token), and the checks before any store is touched.
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

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "keystore/keystore.h"
#include "keystore/ks_int.h"
#include "keystore/ks_p11.h"
/* the table of tpm2-tss's calls as a table, so a test can put its own in it */
#define KS_TPM_TSS_LOADER
#include "keystore/ks_tpm.h"
#include "state/state.h"
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
	m2m_hex(k1, 32, hex, sizeof(hex));
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
	/* no device tree unless a test writes dt/serial-number */
	snprintf(path, sizeof(path), "%s/dt", dir);
	mkdir(path, 0755);
	setenv("M2M_DT_DIR", path, 1);
	snprintf(path, sizeof(path), "%s/dt/serial-number", dir);
	unlink(path);
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
	assert_int_equal(n, 4);
	assert_string_equal(in[0].name, "machine-id");
	assert_string_equal(in[3].name, "dt-serial-number");
	assert_false(in[3].present);
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
	/* systemd's placeholder before the first boot completes is no identity either */
	machine_env("uninitialized\n", "4c4c4544-0042-3510-8050-b4c04f4e3232\n");
	m2m_machine_inputs(in, 8, &n);
	assert_true(in[0].weak);
	assert_false(in[1].weak);
	/* an ARM board: no DMI, the SoC serial in the device tree (a NUL-terminated string) */
	machine_env("0123456789abcdef0123456789abcdef\n", NULL);
	{
		char p2[256];
		FILE *f;

		snprintf(p2, sizeof(p2), "%s/dt/serial-number", dir);
		f = fopen(p2, "w");
		assert_non_null(f);
		fwrite("00000000a1b2c3d4\0", 1, 17, f);
		fclose(f);
	}
	m2m_machine_inputs(in, 8, &n);
	assert_true(in[3].present);
	assert_int_equal(m2m_key_generate(&r, M2M_KEY_EC_P256, true, &err), M2M_OK);
	assert_int_equal(m2m_read_file(key, 65536, &text, &len, &err), M2M_OK);
	assert_non_null(strstr(text, "inputs: machine-id,dt-serial-number\n"));
	free(text);
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_OK);
	m2m_key_close(k);
	/* the same image on another board */
	write_file("dt/serial-number", "00000000e5f60718", 0644);
	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "another machine"));
	/* nothing at all to bind to */
	setenv("M2M_MACHINE_ID_FILE", "/nonexistent/machine-id", 1);
	unsetenv("M2M_DMI_DIR");
	setenv("M2M_DMI_DIR", "/nonexistent", 1);
	setenv("M2M_DT_DIR", "/nonexistent", 1);
	assert_int_equal(m2m_key_generate(&r, M2M_KEY_EC_P256, true, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "no machine identity"));
	unsetenv("M2M_MACHINE_ID_FILE");
	unsetenv("M2M_DMI_DIR");
	unsetenv("M2M_DT_DIR");
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
	/* a TPM that is not there: the import fails as a TPM failure, the TCTI named */
	dst.store = M2M_KEYSTORE_TPM;
	dst.tcti = "swtpm:path=/nonexistent/swtpm.sock";
	/* a TPM reference with a path names a blob (a next key): nothing is imported into one */
	assert_int_equal(m2m_key_import(&dst, s, &none, NULL, false, &err), M2M_ERR_USAGE);
	dst.path = NULL;
	assert_int_equal(m2m_key_import(&dst, s, &none, NULL, false, &err), M2M_ERR_DEVICE);
	assert_non_null(strstr(err.msg, "/nonexistent/swtpm.sock"));
	unsetenv("M2M_MACHINE_ID_FILE");
	unsetenv("M2M_DMI_DIR");
}

/* ---- import: certificates, PKCS#12, PKCS#11 templates ---------------------- */

static X509 *self_signed(EVP_PKEY *pk, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_NAME_free(n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *path, EVP_PKEY *pk, X509 *x)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	if (pk)
		assert_true(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL));
	if (x)
		assert_true(PEM_write_X509(f, x));
	fclose(f);
}

static const CK_ATTRIBUTE *attr(const struct ks_p11_obj *o, CK_ATTRIBUTE_TYPE type)
{
	const CK_ATTRIBUTE *a = ks_p11_attr(o, type);

	assert_non_null(a);
	return a;
}

static void assert_bool_attr(const struct ks_p11_obj *o, CK_ATTRIBUTE_TYPE type, CK_BBOOL v)
{
	const CK_ATTRIBUTE *a = attr(o, type);

	assert_int_equal(a->ulValueLen, sizeof(CK_BBOOL));
	assert_int_equal(*(CK_BBOOL *)a->pValue, v);
}

static void assert_ulong_attr(const struct ks_p11_obj *o, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	const CK_ATTRIBUTE *a = attr(o, type);

	assert_int_equal(a->ulValueLen, sizeof(CK_ULONG));
	assert_int_equal(*(CK_ULONG *)a->pValue, v);
}

static BIGNUM *bn_attr(const struct ks_p11_obj *o, CK_ATTRIBUTE_TYPE type)
{
	const CK_ATTRIBUTE *a = attr(o, type);
	BIGNUM *bn = BN_bin2bn(a->pValue, (int)a->ulValueLen, NULL);

	assert_non_null(bn);
	return bn;
}

/* what every import gives a token, whatever the key type */
static void check_common(const struct ks_p11_import *t, const unsigned char *id, size_t idlen,
			 const char *label)
{
	const struct ks_p11_obj *objs[3] = { &t->priv, &t->pub, &t->cert };

	assert_ulong_attr(&t->priv, CKA_CLASS, CKO_PRIVATE_KEY);
	assert_bool_attr(&t->priv, CKA_TOKEN, CK_TRUE);
	assert_bool_attr(&t->priv, CKA_PRIVATE, CK_TRUE);
	assert_bool_attr(&t->priv, CKA_SENSITIVE, CK_TRUE);
	assert_bool_attr(&t->priv, CKA_EXTRACTABLE, CK_FALSE);
	assert_bool_attr(&t->priv, CKA_SIGN, CK_TRUE);
	assert_bool_attr(&t->priv, CKA_DECRYPT, CK_FALSE);
	assert_ulong_attr(&t->pub, CKA_CLASS, CKO_PUBLIC_KEY);
	assert_bool_attr(&t->pub, CKA_TOKEN, CK_TRUE);
	assert_bool_attr(&t->pub, CKA_VERIFY, CK_TRUE);
	for (int i = 0; i < 3; i++) {
		const CK_ATTRIBUTE *a;

		if (objs[i]->n == 0)
			continue;
		a = attr(objs[i], CKA_ID);
		assert_int_equal(a->ulValueLen, idlen);
		assert_memory_equal(a->pValue, id, idlen);
		a = attr(objs[i], CKA_LABEL);
		assert_int_equal(a->ulValueLen, strlen(label));
		assert_memory_equal(a->pValue, label, strlen(label));
		/* no attribute twice */
		for (CK_ULONG j = 0; j < objs[i]->n; j++)
			for (CK_ULONG k = j + 1; k < objs[i]->n; k++)
				assert_true(objs[i]->a[j].type != objs[i]->a[k].type);
	}
}

static void test_p11_template_ec(void **state)
{
	static const unsigned char id[] = { 0x0a, 0x0b };
	static const unsigned char oid[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	EVP_PKEY *pk = ks_soft_generate(M2M_KEY_EC_P256);
	X509 *x = self_signed(pk, "p11-ec");
	struct ks_p11_import t;
	struct m2m_err err = { 0 };
	unsigned char pt[65], *der = NULL;
	size_t ptlen = 0;
	const CK_ATTRIBUTE *a;
	BIGNUM *want = NULL, *got;
	int n;

	assert_int_equal(ks_p11_import_build(&t, pk, x, id, sizeof(id), "dev", &err), M2M_OK);
	check_common(&t, id, sizeof(id), "dev");
	assert_ulong_attr(&t.priv, CKA_KEY_TYPE, CKK_EC);
	assert_ulong_attr(&t.pub, CKA_KEY_TYPE, CKK_EC);
	a = attr(&t.priv, CKA_EC_PARAMS);
	assert_int_equal(a->ulValueLen, sizeof(oid));
	assert_memory_equal(a->pValue, oid, sizeof(oid));
	a = attr(&t.pub, CKA_EC_PARAMS);
	assert_memory_equal(a->pValue, oid, sizeof(oid));
	/* the private scalar, 32 bytes even when it has leading zeros */
	a = attr(&t.priv, CKA_VALUE);
	assert_int_equal(a->ulValueLen, 32);
	assert_true(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &want));
	got = bn_attr(&t.priv, CKA_VALUE);
	assert_int_equal(BN_cmp(want, got), 0);
	BN_clear_free(want);
	BN_clear_free(got);
	/* the point inside a DER OCTET STRING */
	assert_true(EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
						    sizeof(pt), &ptlen));
	a = attr(&t.pub, CKA_EC_POINT);
	assert_int_equal(a->ulValueLen, 67);
	assert_int_equal(((unsigned char *)a->pValue)[0], 0x04);
	assert_int_equal(((unsigned char *)a->pValue)[1], 65);
	assert_memory_equal((unsigned char *)a->pValue + 2, pt, 65);
	assert_null(ks_p11_attr(&t.pub, CKA_VALUE));
	/* the certificate */
	assert_ulong_attr(&t.cert, CKA_CLASS, CKO_CERTIFICATE);
	assert_ulong_attr(&t.cert, CKA_CERTIFICATE_TYPE, CKC_X_509);
	assert_bool_attr(&t.cert, CKA_TOKEN, CK_TRUE);
	n = i2d_X509(x, &der);
	a = attr(&t.cert, CKA_VALUE);
	assert_int_equal(a->ulValueLen, n);
	assert_memory_equal(a->pValue, der, n);
	OPENSSL_free(der);
	der = NULL;
	n = i2d_X509_NAME(X509_get_subject_name(x), &der);
	a = attr(&t.cert, CKA_SUBJECT);
	assert_int_equal(a->ulValueLen, n);
	assert_memory_equal(a->pValue, der, n);
	OPENSSL_free(der);
	attr(&t.cert, CKA_ISSUER);
	attr(&t.cert, CKA_SERIAL_NUMBER);
	ks_p11_import_free(&t);
	assert_int_equal(t.nbuf, 0);

	/* no certificate: no certificate object; no label: the default one */
	assert_int_equal(ks_p11_import_build(&t, pk, NULL, id, 1, NULL, &err), M2M_OK);
	assert_int_equal(t.cert.n, 0);
	check_common(&t, id, 1, "m2m device key");
	ks_p11_import_free(&t);
	X509_free(x);
	EVP_PKEY_free(pk);
}

static void test_p11_template_rsa(void **state)
{
	static const unsigned char id[] = { 0x01 };
	static const CK_ATTRIBUTE_TYPE priv_parts[] = {
		CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
		CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT,
	};
	EVP_PKEY *pk = ks_soft_generate(M2M_KEY_RSA_2048);
	struct ks_p11_import t;
	struct m2m_err err = { 0 };
	BIGNUM *n, *p, *q, *pq, *e;
	BN_CTX *bc = BN_CTX_new();

	assert_int_equal(ks_p11_import_build(&t, pk, NULL, id, 1, "rsa", &err), M2M_OK);
	check_common(&t, id, 1, "rsa");
	assert_ulong_attr(&t.priv, CKA_KEY_TYPE, CKK_RSA);
	assert_ulong_attr(&t.pub, CKA_KEY_TYPE, CKK_RSA);
	for (size_t i = 0; i < sizeof(priv_parts) / sizeof(priv_parts[0]); i++)
		assert_true(attr(&t.priv, priv_parts[i])->ulValueLen > 0);
	assert_null(ks_p11_attr(&t.pub, CKA_PRIVATE_EXPONENT));
	assert_null(ks_p11_attr(&t.pub, CKA_PRIME_1));
	/* the parts fit together: p * q = n, the same n and e in both objects */
	n = bn_attr(&t.priv, CKA_MODULUS);
	p = bn_attr(&t.priv, CKA_PRIME_1);
	q = bn_attr(&t.priv, CKA_PRIME_2);
	pq = BN_new();
	assert_true(BN_mul(pq, p, q, bc));
	assert_int_equal(BN_cmp(pq, n), 0);
	assert_int_equal(BN_num_bits(n), 2048);
	BN_free(pq);
	pq = bn_attr(&t.pub, CKA_MODULUS);
	assert_int_equal(BN_cmp(pq, n), 0);
	e = bn_attr(&t.pub, CKA_PUBLIC_EXPONENT);
	assert_true(BN_is_word(e, 65537));
	BN_free(e);
	e = bn_attr(&t.priv, CKA_PUBLIC_EXPONENT);
	assert_true(BN_is_word(e, 65537));
	BN_free(e);
	BN_free(pq);
	BN_free(n);
	BN_clear_free(p);
	BN_clear_free(q);
	BN_CTX_free(bc);
	ks_p11_import_free(&t);
	EVP_PKEY_free(pk);
}

static void test_p11_template_unsupported(void **state)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	struct ks_p11_import t;
	struct m2m_err err = { 0 };

	assert_non_null(pk);
	assert_int_equal(ks_p11_import_build(&t, pk, NULL, (const unsigned char *)"\x01", 1, NULL,
					     &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "unsupported key"));
	EVP_PKEY_free(pk);
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(pk);
	assert_int_equal(ks_p11_import_build(&t, pk, NULL, (const unsigned char *)"\x01", 1, NULL,
					     &err), M2M_ERR_CREDENTIAL);
	EVP_PKEY_free(pk);
}

/*
 * The checks of an import before any store is touched: a wrong PKCS#12 PIN,
 * a certificate that is not the key's, a module that is not there; and a
 * PEM file carrying key and certificate gives both.
 */
static void test_import_sources(void **state)
{
	struct m2m_key_ref dst = { .store = M2M_KEYSTORE_FILE };
	struct m2m_secret_ref none = { .fd = -1 };
	struct m2m_secret_ref good = { .source = M2M_SECRET_FILE, .fd = -1 };
	struct m2m_secret_ref bad = { .source = M2M_SECRET_FILE, .fd = -1 };
	EVP_PKEY *pk = ks_soft_generate(M2M_KEY_EC_P256), *other = ks_soft_generate(M2M_KEY_EC_P256);
	X509 *x = self_signed(pk, "import-src"), *y = self_signed(other, "other");
	PKCS12 *p12 = PKCS12_create("p12-secret", "dev", pk, x, NULL, 0, 0, 0, 0, 0);
	char both[256], mism[256], p12path[256], out[256], key[256], gp[256], bp[256];
	struct m2m_err err = { 0 };
	FILE *f;

	snprintf(both, sizeof(both), "%s/both.pem", dir);
	snprintf(mism, sizeof(mism), "%s/mism.pem", dir);
	snprintf(p12path, sizeof(p12path), "%s/dev.p12", dir);
	snprintf(out, sizeof(out), "%s/out.crt", dir);
	snprintf(key, sizeof(key), "%s/out.key", dir);
	snprintf(gp, sizeof(gp), "%s/p12.pin", dir);
	snprintf(bp, sizeof(bp), "%s/p12-bad.pin", dir);
	write_file("p12.pin", "p12-secret", 0600);
	write_file("p12-bad.pin", "p12-wrong", 0600);
	good.path = gp;
	bad.path = bp;
	write_pem(both, pk, x);
	write_pem(mism, pk, y);
	assert_non_null(p12);
	f = fopen(p12path, "wb");
	assert_non_null(f);
	assert_true(i2d_PKCS12_fp(f, p12));
	fclose(f);
	dst.path = key;

	/* key and certificate from one PEM file */
	assert_int_equal(m2m_key_import(&dst, both, &none, out, true, &err), M2M_OK);
	assert_int_equal(access(out, R_OK), 0);
	unlink(out);
	/* a certificate of another key: refused */
	assert_int_equal(m2m_key_import(&dst, mism, &none, out, true, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "does not match"));
	assert_int_not_equal(access(out, F_OK), 0);
	/* PKCS#12: the wrong PIN is a credential failure (exit 9), the right one works */
	assert_int_equal(m2m_key_import(&dst, p12path, &bad, out, true, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "wrong PIN"));
	assert_int_equal(m2m_key_import(&dst, p12path, &good, out, true, &err), M2M_OK);
	assert_int_equal(access(out, R_OK), 0);
	/* onto a token whose module is not there: the module is named, nothing else tried */
	dst = (struct m2m_key_ref){ .store = M2M_KEYSTORE_PKCS11, .module = "/nonexistent/p11.so",
				    .id = "01", .pin = { .source = M2M_SECRET_PROMPT } };
	assert_int_equal(m2m_key_import(&dst, both, &none, NULL, false, &err), M2M_ERR_DEVICE);
	assert_non_null(strstr(err.msg, "PKCS#11 module /nonexistent/p11.so"));
	/* a token import needs an id */
	dst.id = NULL;
	dst.label = "x";
	assert_int_equal(m2m_key_import(&dst, both, &none, NULL, false, &err), M2M_ERR_USAGE);
	PKCS12_free(p12);
	X509_free(x);
	X509_free(y);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(other);
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

	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_DEVICE);
	assert_non_null(strstr(err.msg, "TPM not reachable through TCTI 'swtpm:path=/nonexistent/swtpm.sock'"));
	assert_null(k);
}

/* A TCTI string names a library to load and a device to write to: only known ones. */
static void test_tcti_refused(void **state)
{
	static const char *const bad[] = { "/tmp/evil.so", "evil", "device:/tmp/victim",
					   "device:/dev/tpm0/../../tmp/x", "tabrmdx:bus_type=session" };
	struct m2m_err err = { 0 };
	struct m2m_key *k = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct m2m_key_ref r = { .store = M2M_KEYSTORE_TPM, .tcti = bad[i] };

		assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_CONFIG);
		assert_non_null(strstr(err.msg, "refusing TCTI"));
		assert_null(k);
	}
}

/* ---- the TPM's answers to a signature, from a stand-in for tpm2-tss ---------- */

static TSS2_RC sign_rc;

static TSS2_RC fake_sign(ESYS_CONTEXT *esys, ESYS_TR key, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
			 const TPM2B_DIGEST *dg, const TPMT_SIG_SCHEME *scheme,
			 const TPMT_TK_HASHCHECK *tk, TPMT_SIGNATURE **sig)
{
	(void)esys, (void)key, (void)s1, (void)s2, (void)s3, (void)dg, (void)scheme, (void)tk;
	*sig = NULL;
	return sign_rc;
}

static const char *fake_decode(TSS2_RC rc)
{
	(void)rc;
	return "a TPM error";
}

/*
 * A signature the TPM refuses for the key's auth value (AUTH_FAIL, BAD_AUTH)
 * or its dictionary-attack lockout is a refused try: one "pin" event each
 * (policy.counters); any other failure is none.
 */
static void test_tpm_refused_counted(void **state)
{
	static const struct {
		TSS2_RC rc;
		int want;
		unsigned events;
	} c[] = {
		{ TPM2_RC_AUTH_FAIL | TPM2_RC_S | TPM2_RC_1, M2M_ERR_CREDENTIAL, 1 },
		{ TPM2_RC_BAD_AUTH | TPM2_RC_S | TPM2_RC_1, M2M_ERR_CREDENTIAL, 2 },
		{ TPM2_RC_LOCKOUT, M2M_ERR_PIN_LOCKOUT, 3 },
		{ TPM2_RC_SCHEME | TPM2_RC_P | TPM2_RC_2, M2M_ERR_CREDENTIAL, 3 },
		{ TPM2_RC_OBJECT_MEMORY, M2M_ERR_DEVICE, 3 },
		/* not the TPM's answer (the resource manager's layer): no try reached it */
		{ TSS2_RESMGR_RC_LAYER | TPM2_RC_LOCKOUT, M2M_ERR_CREDENTIAL, 3 },
	};
	struct ks_tss saved = ks_tss;
	struct tpm t = { 0 };
	struct m2m_key k = { .ref = { .store = M2M_KEYSTORE_TPM }, .be = &t };
	unsigned char dg[32] = { 0 }, *sig = NULL;
	size_t siglen = 0;
	struct m2m_err err;

	(void)state;
	m2m_keystore_set_state_dir(dir);
	ks_tss.Esys_Sign = fake_sign;
	ks_tss.Tss2_RC_Decode = fake_decode;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		t.unlocked = true; /* the auth value passed the policy: the signature goes to the TPM */
		sign_rc = c[i].rc;
		memset(&err, 0, sizeof(err));
		assert_int_equal(ks_tpm_ops.sign(&k, dg, sizeof(dg), &sig, &siglen, &err), c[i].want);
		assert_null(sig);
		assert_int_equal(m2m_state_events_since(dir, "pin", 0), c[i].events);
	}
	ks_tss = saved;
	m2m_keystore_set_state_dir(NULL);
}

/*
 * A TPM key's blob: what is written is read back, 0600; a file that is not
 * one (another magic, cut short, something after it) is CREDENTIAL, none
 * NOT_FOUND. tpm2-tss's own marshalling (libtss2-mu), so skipped without it.
 */
static void test_tpm_blob(void **state)
{
	TPM2B_PUBLIC pub = { 0 }, pub2;
	TPM2B_PRIVATE priv = { 0 }, priv2;
	char path[128], *buf = NULL;
	size_t len = 0;
	struct stat sb;
	struct m2m_err err;
	FILE *f;

	(void)state;
	if (!ks_tss_load())
		skip();
	pub.publicArea.type = TPM2_ALG_ECC;
	pub.publicArea.nameAlg = TPM2_ALG_SHA256;
	pub.publicArea.objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM;
	pub.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	pub.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	pub.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	pub.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	pub.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	pub.publicArea.unique.ecc.x.size = pub.publicArea.unique.ecc.y.size = 32;
	memset(pub.publicArea.unique.ecc.x.buffer, 0x11, 32);
	memset(pub.publicArea.unique.ecc.y.buffer, 0x22, 32);
	priv.size = 126;
	memset(priv.buffer, 0x5a, priv.size);
	snprintf(path, sizeof(path), "%s/sub/blob", dir);
	memset(&err, 0, sizeof(err));
	assert_int_equal(ks_tpm_blob_write(path, &pub, &priv, &err), M2M_OK);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(ks_tpm_blob_read(path, &pub2, &priv2, &err), M2M_OK);
	assert_int_equal(pub2.publicArea.type, TPM2_ALG_ECC);
	assert_int_equal(pub2.publicArea.parameters.eccDetail.curveID, TPM2_ECC_NIST_P256);
	assert_memory_equal(pub2.publicArea.unique.ecc.y.buffer, pub.publicArea.unique.ecc.y.buffer, 32);
	assert_int_equal(priv2.size, priv.size);
	assert_memory_equal(priv2.buffer, priv.buffer, priv.size);
	/* something after it */
	assert_int_equal(m2m_read_file(path, 4096, &buf, &len, &err), M2M_OK);
	f = fopen(path, "ab");
	assert_non_null(f);
	fputc(0, f);
	fclose(f);
	assert_int_equal(ks_tpm_blob_read(path, &pub2, &priv2, &err), M2M_ERR_CREDENTIAL);
	/* cut short */
	assert_int_equal(m2m_write_atomic(path, buf, len - 1, 0600, &err), M2M_OK);
	assert_int_equal(ks_tpm_blob_read(path, &pub2, &priv2, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "damaged"));
	/* another magic */
	buf[0] ^= 1;
	assert_int_equal(m2m_write_atomic(path, buf, len, 0600, &err), M2M_OK);
	assert_int_equal(ks_tpm_blob_read(path, &pub2, &priv2, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "not a TPM key blob"));
	free(buf);
	unlink(path);
	assert_int_equal(ks_tpm_blob_read(path, &pub2, &priv2, &err), M2M_ERR_NOT_FOUND);
}

/* A PIN a token rejected is not offered again in a later run; a changed one is. */
static void test_pin_memory(void **state)
{
	(void)state;
	m2m_keystore_set_state_dir(dir);
	assert_false(ks_pin_rejected_before("/m.so", "SER1", "tok", "1111", 4));
	ks_pin_remember("/m.so", "SER1", "tok", "1111", 4, true);
	assert_true(ks_pin_rejected_before("/m.so", "SER1", "tok", "1111", 4));
	assert_false(ks_pin_rejected_before("/m.so", "SER1", "tok", "2222", 4)); /* PIN changed */
	assert_false(ks_pin_rejected_before("/m.so", "SER2", "tok", "1111", 4)); /* another token */
	ks_pin_remember("/m.so", "SER1", "tok", "2222", 4, false);           /* a good login */
	assert_false(ks_pin_rejected_before("/m.so", "SER1", "tok", "1111", 4));
	m2m_keystore_set_state_dir(NULL);
}

/* "<dir>/<kind>-<first 8 bytes of SHA-256(module, serial, token)>", as earlier versions named it */
static void marker_file(const char *kind, const char *m, const char *s, const char *t, char *out,
			size_t len)
{
	unsigned char md[32];
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	assert_true(EVP_DigestInit_ex(c, EVP_sha256(), NULL));
	EVP_DigestUpdate(c, m, strlen(m) + 1);
	EVP_DigestUpdate(c, s, strlen(s) + 1);
	EVP_DigestUpdate(c, t, strlen(t) + 1);
	EVP_DigestFinal_ex(c, md, NULL);
	EVP_MD_CTX_free(c);
	snprintf(out, len, "%s/%s-%02x%02x%02x%02x%02x%02x%02x%02x", dir, kind, md[0], md[1], md[2],
		 md[3], md[4], md[5], md[6], md[7]);
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/*
 * The markers keep their names and contents (a device updated in the field keeps
 * them); one that is not what we write is set aside and taken as absent.
 */
static void test_pin_marker_state(void **state)
{
	char path[160], bad[176], want[65], line[80];
	unsigned char md[32];
	EVP_MD_CTX *c;
	FILE *f;

	(void)state;
	m2m_keystore_set_state_dir(dir);
	/* a marker as 0.x wrote it: SHA-256 of its own path and the PIN, in hex */
	marker_file("pin-rejected", "/m.so", "SER9", "tok", path, sizeof(path));
	c = EVP_MD_CTX_new();
	assert_true(EVP_DigestInit_ex(c, EVP_sha256(), NULL));
	EVP_DigestUpdate(c, path, strlen(path));
	EVP_DigestUpdate(c, "4321", 4);
	EVP_DigestFinal_ex(c, md, NULL);
	EVP_MD_CTX_free(c);
	for (int i = 0; i < 32; i++)
		snprintf(want + 2 * i, 3, "%02x", md[i]);
	snprintf(line, sizeof(line), "%s\n", want);
	put_file(path, line);
	assert_true(ks_pin_rejected_before("/m.so", "SER9", "tok", "4321", 4));
	assert_false(ks_pin_rejected_before("/m.so", "SER9", "tok", "1234", 4));
	/* and this version writes the same */
	unlink(path);
	ks_pin_remember("/m.so", "SER9", "tok", "4321", 4, true);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(strncmp(line, want, 64), 0);
	/* damaged: set aside, the PIN is tried */
	put_file(path, "not a hash\n");
	assert_false(ks_pin_rejected_before("/m.so", "SER9", "tok", "4321", 4));
	snprintf(bad, sizeof(bad), "%s.bad", path);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(bad, F_OK), 0);
	unlink(bad);

	/* a fact: "1\n"; anything else is set aside and found out again */
	marker_file("fact-no-auth", "dev", "0001:ab", "key", path, sizeof(path));
	assert_false(ks_fact_has("dev", "0001:ab", "key", "no-auth"));
	ks_fact_set("dev", "0001:ab", "key", "no-auth");
	assert_true(ks_fact_has("dev", "0001:ab", "key", "no-auth"));
	assert_int_equal(access(path, F_OK), 0);
	put_file(path, "");
	assert_false(ks_fact_has("dev", "0001:ab", "key", "no-auth"));
	snprintf(bad, sizeof(bad), "%s.bad", path);
	assert_int_equal(access(bad, F_OK), 0);
	unlink(bad);
	m2m_keystore_set_state_dir(NULL);
}

/* A PKCS#11 module that cannot be loaded. */
static void test_pkcs11_no_module(void **state)
{
	struct m2m_key_ref r = { .store = M2M_KEYSTORE_PKCS11, .module = "/nonexistent/p11.so",
				 .id = "01", .pin = { .source = M2M_SECRET_PROMPT } };
	struct m2m_key *k = NULL;
	struct m2m_err err = { 0 };

	assert_int_equal(m2m_key_open(&r, &k, &err), M2M_ERR_DEVICE);
	assert_non_null(strstr(err.msg, "PKCS#11 module /nonexistent/p11.so"));
}

static void pkey_failed(void *arg, const struct m2m_err *e)
{
	*(struct m2m_err *)arg = *e;
}

/* m2m_key_pkey(): OpenSSL signs through the store; only SHA-256; the key outlives its handle */
static void test_pkey(void **state)
{
	char key[256];
	struct m2m_key_ref r = { .store = M2M_KEYSTORE_FILE, .path = key };
	struct m2m_err err = { 0 }, serr = { 0 };
	static const unsigned char msg[] = "an update package";
	unsigned char sig[600];
	size_t siglen;
	enum m2m_key_type types[] = { M2M_KEY_EC_P256, M2M_KEY_RSA_2048 };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct m2m_key *k = NULL;
		EVP_PKEY *pk = NULL, *pub = NULL;
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		snprintf(key, sizeof(key), "%s/pkey%zu.key", dir, i);
		assert_int_equal(m2m_key_generate(&r, types[i], true, &err), M2M_OK);
		assert_int_equal(m2m_key_open(&r, &k, &err), M2M_OK);
		assert_int_equal(m2m_key_public(k, &pub), M2M_OK);
		assert_int_equal(m2m_key_pkey(k, pkey_failed, &serr, &pk, &err), M2M_OK);
		m2m_key_close(k); /* the EVP_PKEY holds it open */
		siglen = sizeof(sig);
		assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk), 1);
		assert_int_equal(EVP_DigestSign(md, sig, &siglen, msg, sizeof(msg)), 1);
		EVP_MD_CTX_reset(md);
		assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
		assert_int_equal(EVP_DigestVerify(md, sig, siglen, msg, sizeof(msg)), 1);
		/* a changed message does not verify: the test can fail */
		EVP_MD_CTX_reset(md);
		assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
		assert_int_not_equal(EVP_DigestVerify(md, sig, siglen, msg, sizeof(msg) - 2), 1);
		/* the store signs SHA-256 only, and says so through the callback */
		EVP_MD_CTX_reset(md);
		serr.rc = 0;
		siglen = sizeof(sig);
		assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, pk), 1);
		assert_int_not_equal(EVP_DigestSign(md, sig, &siglen, msg, sizeof(msg)), 1);
		assert_int_equal(serr.rc, M2M_ERR_CREDENTIAL);
		assert_non_null(strstr(serr.msg, "SHA-256 only"));
		ERR_clear_error();
		EVP_MD_CTX_free(md);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(pk);
	}
}

/* m2m_key_ref_next() and its twin: what names a renewal's next and previous key in each store */
static void test_ref_next(void **state)
{
	struct m2m_key_ref r = { .store = M2M_KEYSTORE_FILE, .path = "/k/dev.key" }, n;
	struct m2m_err err = { 0 };
	char buf[160], lng[140];

	(void)state;
	assert_int_equal(m2m_key_ref_next(&r, &n, buf, sizeof(buf), &err), M2M_OK);
	assert_string_equal(n.path, "/k/dev.key.next");
	assert_ptr_equal(n.path, buf);
	assert_int_equal(ks_key_ref_prev(&r, &n, buf, sizeof(buf), &err), M2M_OK);
	assert_string_equal(n.path, "/k/dev.key.prev");
	assert_int_equal(m2m_key_ref_next(&r, &n, buf, 12, &err), M2M_ERR_USAGE);
	/* a token key: the suffix's bytes added to its id, the rest of the reference kept */
	r = (struct m2m_key_ref){ .store = M2M_KEYSTORE_PKCS11, .module = "/m.so", .token = "t",
				  .id = "01", .label = "dev" };
	r.pin.source = M2M_SECRET_FILE;
	assert_int_equal(m2m_key_ref_next(&r, &n, buf, sizeof(buf), &err), M2M_OK);
	assert_string_equal(n.id, "012e6e657874");
	assert_string_equal(n.label, "dev");
	assert_ptr_equal(n.module, r.module);
	assert_ptr_equal(n.token, r.token);
	assert_int_equal(m2m_key_ref_check(&n, true, &err), M2M_OK);
	assert_int_equal(ks_key_ref_prev(&r, &n, buf, sizeof(buf), &err), M2M_OK);
	assert_string_equal(n.id, "012e70726576");
	/* one found by its label: the label */
	r.id = NULL;
	assert_int_equal(m2m_key_ref_next(&r, &n, buf, sizeof(buf), &err), M2M_OK);
	assert_string_equal(n.label, "dev.next");
	assert_null(n.id);
	/* an id whose next one would not fit a session's 64 bytes */
	memset(lng, 'a', 120);
	lng[120] = '\0';
	r.id = lng;
	assert_int_equal(m2m_key_ref_next(&r, &n, buf, sizeof(buf), &err), M2M_ERR_USAGE);
	assert_non_null(strstr(err.msg, "too long"));
	r.id = "01";
	assert_int_equal(m2m_key_ref_next(&r, &n, buf, 8, &err), M2M_ERR_USAGE);
	/* a TPM key: a blob in the state directory named after the handle, the rest kept */
	m2m_keystore_set_state_dir("/st");
	r = (struct m2m_key_ref){ .store = M2M_KEYSTORE_TPM, .tcti = "mssim", .handle = 0x81000010 };
	assert_int_equal(m2m_key_ref_next(&r, &n, buf, sizeof(buf), &err), M2M_OK);
	assert_string_equal(n.path, "/st/tpm-key-0x81000010.next");
	assert_int_equal(n.handle, 0x81000010);
	assert_ptr_equal(n.tcti, r.tcti);
	assert_int_equal(m2m_key_ref_check(&n, true, &err), M2M_OK);
	assert_int_equal(ks_key_ref_prev(&r, &n, buf, sizeof(buf), &err), M2M_OK);
	assert_string_equal(n.path, "/st/tpm-key-0x81000010.prev");
	/* the blob the key at the handle is kept as; a blob is not put at another handle */
	assert_int_equal(ks_key_ref_kept(&r, &n, buf, sizeof(buf), &err), M2M_OK);
	assert_string_equal(n.path, "/st/tpm-key-0x81000010");
	n.handle = 0x81000011;
	assert_int_equal(ks_key_place(&r, &n, &err), M2M_ERR_USAGE);
	n.handle = r.handle;
	assert_int_equal(ks_key_place(&n, &n, &err), M2M_ERR_USAGE); /* a blob is no handle */
	assert_int_equal(ks_key_ref_kept(&n, &n, buf, sizeof(buf), &err), M2M_ERR_USAGE);
	r.handle = 0;
	assert_int_equal(m2m_key_ref_next(&r, &n, buf, sizeof(buf), &err), M2M_OK);
	assert_string_equal(n.path, "/st/tpm-key-0x81010002.next");
	/* a blob's next one: its path with the suffix */
	r.path = "/b/k";
	assert_int_equal(m2m_key_ref_next(&r, &n, buf, sizeof(buf), &err), M2M_OK);
	assert_string_equal(n.path, "/b/k.next");
	r.path = NULL;
	assert_int_equal(m2m_key_ref_next(&r, &n, buf, 20, &err), M2M_ERR_USAGE);
	r.path = "";
	assert_int_equal(m2m_key_ref_check(&r, false, &err), M2M_ERR_USAGE);
	m2m_keystore_set_state_dir(NULL);
	/* the store that makes no next key yet */
	r = (struct m2m_key_ref){ .store = M2M_KEYSTORE_MACHINE, .path = "/k/m.key" };
	assert_int_equal(m2m_key_ref_next(&r, &n, buf, sizeof(buf), &err), M2M_ERR_USAGE);
	assert_non_null(strstr(err.msg, "file, token and TPM keys"));
	/* a move is a token's: USAGE for a file key, nothing touched */
	r = (struct m2m_key_ref){ .store = M2M_KEYSTORE_FILE, .path = "/k/dev.key" };
	n = r;
	assert_int_equal(ks_key_move(&r, &n, &err), M2M_ERR_USAGE);
	assert_int_equal(ks_key_place(&r, &n, &err), M2M_ERR_USAGE);
	assert_int_equal(ks_key_ref_kept(&r, &n, buf, sizeof(buf), &err), M2M_ERR_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_state),
		cmocka_unit_test(test_pin_policy),
		cmocka_unit_test(test_ref_check),
		cmocka_unit_test(test_ref_next),
		cmocka_unit_test(test_tpm_blob),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_derive),
		cmocka_unit_test(test_file_store),
		cmocka_unit_test(test_machine_store),
		cmocka_unit_test(test_import),
		cmocka_unit_test(test_p11_template_ec),
		cmocka_unit_test(test_p11_template_rsa),
		cmocka_unit_test(test_p11_template_unsupported),
		cmocka_unit_test(test_import_sources),
		cmocka_unit_test(test_machine_parse),
		cmocka_unit_test(test_tpm_unreachable),
		cmocka_unit_test(test_pkcs11_no_module),
		cmocka_unit_test(test_tcti_refused),
		cmocka_unit_test(test_tpm_refused_counted),
		cmocka_unit_test(test_pin_memory),
		cmocka_unit_test(test_pin_marker_state),
		cmocka_unit_test(test_pkey),
	};

	umask(077);
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}

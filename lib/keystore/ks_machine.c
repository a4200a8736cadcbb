/* SPDX-License-Identifier: MIT */
/*
 * The machine key store: a soft key encrypted with a key derived from this
 * machine's identity, so a copy of the file is useless elsewhere.
 *
 *   IKM  = "name:len:value" of each input, joined with "|", in the order
 *          recorded in the file (machine-id, dmi-product-uuid,
 *          dmi-product-serial, dt-serial-number: those present when the key
 *          was bound)
 *   KEK  = HKDF-SHA256(IKM, salt = 32 random bytes from the file, info =
 *          "m2m/machine-key/v1"), 32 bytes
 *   data = AES-256-GCM(KEK, nonce, PKCS#8 DER of the key), the header lines
 *          as additional data, so a changed input list is detected too.
 *
 * It is not a secret against root on the same machine (every input can be
 * read there); it stops a copied file from working on another machine. A
 * TPM key is the stronger binding where a TPM exists.
 *
 * For tests only, M2M_MACHINE_ID_FILE, M2M_DMI_DIR and M2M_DT_DIR replace
 * /etc/machine-id, /sys/class/dmi/id and /sys/firmware/devicetree/base, to
 * play "another machine".
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "keystore/ks_int.h"

#define MAGIC "m2m-machine-key: 1"
#define MAX_VALUE 256
#define NONCE_LEN 12
#define TAG_LEN 16

struct input_def {
	const char *name;
	const char *env;     /* test override of the directory or file */
	const char *dflt;
	const char *file;    /* within the directory; NULL: env/dflt is the file */
};

static const struct input_def inputs[] = {
	{ "machine-id", "M2M_MACHINE_ID_FILE", "/etc/machine-id", NULL },
	{ "dmi-product-uuid", "M2M_DMI_DIR", "/sys/class/dmi/id", "product_uuid" },
	{ "dmi-product-serial", "M2M_DMI_DIR", "/sys/class/dmi/id", "product_serial" },
	/* ARM and other boards without DMI: the SoC's serial from the device tree */
	{ "dt-serial-number", "M2M_DT_DIR", "/sys/firmware/devicetree/base", "serial-number" },
};
#define N_INPUTS (sizeof(inputs) / sizeof(inputs[0]))

static void input_path(const struct input_def *d, char *buf, size_t len)
{
	const char *base = getenv(d->env);

	if (!base || !*base)
		base = d->dflt;
	if (d->file)
		snprintf(buf, len, "%s/%s", base, d->file);
	else
		snprintf(buf, len, "%s", base);
}

/*
 * Values vendors ship when they have nothing, and systemd's placeholder in
 * /etc/machine-id before the first boot completes (machine-id(5)): not an
 * identity.
 */
static bool weak_value(const char *v)
{
	static const char *const dummies[] = {
		"Not Specified", "To be filled by O.E.M.", "Default string", "None",
		"System Serial Number", "0123456789", "Not Applicable", "uninitialized",
	};
	bool zero = true;

	for (const char *p = v; *p; p++)
		if (*p != '0' && *p != '-' && *p != 'f' && *p != 'F')
			zero = false;
	if (zero)
		return true;
	for (size_t i = 0; i < sizeof(dummies) / sizeof(dummies[0]); i++)
		if (strcasecmp(v, dummies[i]) == 0)
			return true;
	return false;
}

enum input_state { IN_OK, IN_ABSENT, IN_DENIED };

/*
 * Read one input, trimmed (device-tree strings end in NUL); absent also if
 * empty. Denied is told apart: product_serial is root's only, and a key
 * bound by root must not look "made on another machine" to another user.
 */
static enum input_state read_input_state(const struct input_def *d, char *val, size_t len)
{
	char path[320];
	FILE *fp;
	size_t n;

	input_path(d, path, sizeof(path));
	fp = fopen(path, "re");
	if (!fp)
		return errno == EACCES || errno == EPERM ? IN_DENIED : IN_ABSENT;
	n = fread(val, 1, len - 1, fp);
	fclose(fp);
	val[n] = '\0';
	n = strlen(val);
	while (n && isspace((unsigned char)val[n - 1]))
		val[--n] = '\0';
	return n > 0 ? IN_OK : IN_ABSENT;
}

static bool read_input(const struct input_def *d, char *val, size_t len)
{
	return read_input_state(d, val, len) == IN_OK;
}

int m2m_machine_inputs(struct m2m_machine_input *in, size_t max, size_t *n)
{
	char val[MAX_VALUE];

	*n = 0;
	for (size_t i = 0; i < N_INPUTS && *n < max; i++) {
		struct m2m_machine_input *o = &in[(*n)++];

		memset(o, 0, sizeof(*o)); /* the caller's array may hold anything */
		snprintf(o->name, sizeof(o->name), "%s", inputs[i].name);
		input_path(&inputs[i], o->source, sizeof(o->source));
		switch (read_input_state(&inputs[i], val, sizeof(val))) {
		case IN_OK:
			o->present = true;
			break;
		case IN_DENIED:
			o->denied = true;
			break;
		default:
			break;
		}
		o->weak = o->present && weak_value(val);
	}
	return M2M_OK;
}

int ks_machine_derive(const struct ks_machine_value *v, size_t n, const unsigned char *salt,
		      size_t saltlen, unsigned char kek[32])
{
	size_t cap = 1, off = 0;
	char *ikm;
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx;
	OSSL_PARAM prm[5];
	int ok;

	for (size_t i = 0; i < n; i++)
		cap += strlen(v[i].name) + strlen(v[i].value) + 24;
	ikm = OPENSSL_secure_zalloc(cap);
	if (!ikm)
		return -1;
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(ikm + off, cap - off, "%s%s:%zu:%s", i ? "|" : "", v[i].name,
					strlen(v[i].value), v[i].value);
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	prm[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	prm[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, off);
	prm[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	prm[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (char *)KS_MACHINE_INFO,
						   strlen(KS_MACHINE_INFO));
	prm[4] = OSSL_PARAM_construct_end();
	ok = ctx && EVP_KDF_derive(ctx, kek, 32, prm) > 0;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	OPENSSL_secure_clear_free(ikm, cap);
	return ok ? 0 : -1;
}

/* AES-256-GCM one shot; enc: encrypt (tag appended) or decrypt (tag checked). */
static int gcm(bool enc, const unsigned char *key, const unsigned char *nonce,
	       const unsigned char *aad, size_t aadlen, const unsigned char *in, size_t inlen,
	       unsigned char *out, size_t *outlen)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, m = 0, ok;

	if (!enc && inlen < TAG_LEN) {
		EVP_CIPHER_CTX_free(c);
		return -1;
	}
	if (!enc)
		inlen -= TAG_LEN;
	ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) &&
	     EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) &&
	     EVP_CipherUpdate(c, out, &n, in, (int)inlen) &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
					 (void *)(in + inlen))) &&
	     EVP_CipherFinal_ex(c, out + n, &m) > 0 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + n + m));
	EVP_CIPHER_CTX_free(c);
	*outlen = (size_t)(n + m) + (enc ? TAG_LEN : 0);
	return ok ? 0 : -1;
}

#define TPM_INPUT "tpm-sealed"

/* The secret sealed in the TPM, as hex: the value of the "tpm-sealed" input. */
static int unseal_input(const struct ks_machine_file *mf, char *val, const char *file,
			struct m2m_err *err)
{
	unsigned char sec[64];
	size_t len = 0;
	int rc;

	if (!mf->tcti[0])
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: sealed in a TPM, but no TCTI recorded",
				   file);
	rc = ks_tpm_unseal(mf->tcti, mf->seal_handle, sec, sizeof(sec), &len, err);
	if (rc)
		return m2m_err_prefix(err, "%s: this key is sealed to a TPM", file);
	m2m_hex(sec, len, val, MAX_VALUE);
	OPENSSL_cleanse(sec, sizeof(sec));
	return M2M_OK;
}

/* The inputs of this machine, by name list ("a,b,c"); names the first one missing. */
static int collect(const struct ks_machine_file *mf, char vals[][MAX_VALUE],
		   struct ks_machine_value *v, size_t *n, const char *file, struct m2m_err *err)
{
	char list[256], *save = NULL, *tok;

	snprintf(list, sizeof(list), "%s", mf->names);
	*n = 0;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const struct input_def *d = NULL;
		char path[320];
		int rc;

		if (strcmp(tok, TPM_INPUT) == 0 && *n < KS_MACHINE_MAX_INPUTS) {
			rc = unseal_input(mf, vals[*n], file, err);
			if (rc)
				return rc;
			v[*n].name = TPM_INPUT;
			v[*n].value = vals[*n];
			(*n)++;
			continue;
		}

		for (size_t i = 0; i < N_INPUTS; i++)
			if (strcmp(tok, inputs[i].name) == 0)
				d = &inputs[i];
		if (!d || *n >= KS_MACHINE_MAX_INPUTS)
			return m2m_err_set(err, M2M_ERR_CREDENTIAL,
					   "%s: unknown machine input '%s' (made by a newer version?)",
					   file, tok);
		switch (read_input_state(d, vals[*n], MAX_VALUE)) {
		case IN_OK:
			break;
		case IN_DENIED:
			input_path(d, path, sizeof(path));
			return m2m_err_set(err, M2M_ERR_CREDENTIAL,
					   "%s: this key is bound to the %s, and %s cannot be read (permission denied): run as the user that bound the key (root, usually)",
					   file, d->name, path);
		default:
			input_path(d, path, sizeof(path));
			return m2m_err_set(err, M2M_ERR_CREDENTIAL,
					   "%s: this key is bound to a machine with a %s, and this machine has none (%s is missing); it was made on another machine or the hardware changed: re-enrol",
					   file, d->name, path);
		}
		v[*n].name = d->name;
		v[*n].value = vals[*n];
		(*n)++;
	}
	return M2M_OK;
}

/* The sealed input an existing key file names (handle 0: none, or no such file) */
static uint32_t sealed_handle_of(const char *path, char *tcti, size_t tlen)
{
	struct ks_machine_file mf;
	char *buf = NULL;
	uint32_t h = 0;

	if (m2m_read_file(path, 128 * 1024, &buf, NULL, NULL))
		return 0;
	if (ks_machine_parse(buf, &mf, path, NULL) == M2M_OK) {
		h = mf.seal_handle;
		if (tcti)
			snprintf(tcti, tlen, "%s", mf.tcti);
		free(mf.ct);
	}
	free(buf);
	return h;
}

int ks_machine_write(const char *path, EVP_PKEY *pk, const char *tcti, uint32_t seal_handle,
		     bool replace, struct m2m_err *err)
{
	char vals[KS_MACHINE_MAX_INPUTS][MAX_VALUE], names[256] = "", header[1024], tpmline[300] = "";
	char salt_hex[2 * KS_MACHINE_SALT_LEN + 1], nonce_hex[2 * NONCE_LEN + 1];
	unsigned char salt[KS_MACHINE_SALT_LEN], nonce[NONCE_LEN], kek[32];
	unsigned char *der = NULL, *ct = NULL, *b64 = NULL;
	struct ks_machine_value v[KS_MACHINE_MAX_INPUTS];
	size_t n = 0, ctlen = 0, hlen;
	char *out = NULL;
	int derlen = 0, rc = M2M_OK, olen;

	if (!replace && ks_exists(path))
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "%s: a key is already there; not replaced (delete it first, or replace it: --force)", path);
	for (size_t i = 0; i < N_INPUTS; i++) {
		if (!read_input(&inputs[i], vals[n], MAX_VALUE) || weak_value(vals[n]))
			continue;
		v[n].name = inputs[i].name;
		v[n].value = vals[n];
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			 n ? "," : "", inputs[i].name);
		n++;
	}
	if (tcti) {
		unsigned char sec[32];

		if (!seal_handle)
			seal_handle = KS_MACHINE_SEAL_HANDLE;
		if (RAND_bytes(sec, sizeof(sec)) != 1)
			return m2m_err_set(err, M2M_ERR_FAILURE, "no random bytes: %s", ks_ssl_reason());
		/*
		 * --force replaces the secret sealed at the handle only when it is the
		 * one of the key file being replaced: another machine-bound key that
		 * was sealed there would be destroyed without a word.
		 */
		rc = ks_tpm_seal(tcti, seal_handle, sec, sizeof(sec),
				 replace && sealed_handle_of(path, NULL, 0) == seal_handle, err);
		m2m_hex(sec, sizeof(sec), vals[n], MAX_VALUE);
		OPENSSL_cleanse(sec, sizeof(sec));
		if (rc)
			return m2m_err_prefix(err, "%s: sealing to the TPM", path);
		v[n].name = TPM_INPUT;
		v[n].value = vals[n];
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", n ? "," : "",
			 TPM_INPUT);
		snprintf(tpmline, sizeof(tpmline), "tpm: 0x%08x %s\n", (unsigned)seal_handle, tcti);
		n++;
	}
	if (n == 0)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "%s: no machine identity to bind to (no /etc/machine-id, no DMI product UUID or serial)",
				   path);
	if (RAND_bytes(salt, sizeof(salt)) != 1 || RAND_bytes(nonce, sizeof(nonce)) != 1)
		return m2m_err_set(err, M2M_ERR_FAILURE, "no random bytes: %s", ks_ssl_reason());
	m2m_hex(salt, sizeof(salt), salt_hex, sizeof(salt_hex));
	m2m_hex(nonce, sizeof(nonce), nonce_hex, sizeof(nonce_hex));
	hlen = (size_t)snprintf(header, sizeof(header),
				"# m2m machine-bound key: useless on another machine, see m2mvpn-cert(1)\n"
				MAGIC "\nkdf: hkdf-sha256\ninfo: " KS_MACHINE_INFO
				"\ninputs: %s\n%ssalt: %s\nnonce: %s\ncipher: aes-256-gcm\n",
				names, tpmline, salt_hex, nonce_hex);
	if (ks_machine_derive(v, n, salt, sizeof(salt), kek)) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "key derivation failed: %s", ks_ssl_reason());
		goto out;
	}
	/* PKCS#8 wraps every key type the same way */
	{
		PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pk);

		derlen = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
		PKCS8_PRIV_KEY_INFO_free(p8);
	}
	if (derlen <= 0) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "cannot encode the key: %s", ks_ssl_reason());
		goto out;
	}
	ct = malloc((size_t)derlen + TAG_LEN);
	b64 = malloc(((size_t)derlen + TAG_LEN) / 3 * 4 + 8);
	if (!ct || !b64) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		goto out;
	}
	if (gcm(true, kek, nonce, (unsigned char *)header, hlen, der, (size_t)derlen, ct, &ctlen)) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "encryption failed: %s", ks_ssl_reason());
		goto out;
	}
	EVP_EncodeBlock(b64, ct, (int)ctlen);
	olen = asprintf(&out, "%sdata: %s\n", header, (char *)b64);
	if (olen < 0) {
		out = NULL;
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		goto out;
	}
	rc = m2m_write_atomic(path, out, (size_t)olen, 0600, err);
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(vals, sizeof(vals));
	if (der)
		OPENSSL_clear_free(der, (size_t)derlen);
	free(ct);
	free(b64);
	free(out);
	ERR_clear_error();
	return rc;
}

static int machine_generate(const struct m2m_key_ref *ref, enum m2m_key_type type, bool replace,
			    struct m2m_err *err)
{
	EVP_PKEY *pk;
	int rc;

	if (!replace && ks_exists(ref->path))
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "%s: a key is already there; not replaced (delete it first, or replace it: --force)",
				   ref->path);
	pk = ks_soft_generate(type);
	if (!pk)
		return m2m_err_set(err, M2M_ERR_FAILURE, "key generation failed: %s", ks_ssl_reason());
	rc = ks_machine_write(ref->path, pk, ref->tcti, ref->handle, replace, err);
	EVP_PKEY_free(pk);
	return rc;
}

/* "key: value" of the header; NULL if absent */
static const char *field(char *buf, const char *key)
{
	size_t kl = strlen(key);

	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':' && line[kl + 1] == ' ')
			return line + kl + 2;
	return NULL;
}

static void take(const char *v, char *out, size_t len)
{
	size_t n = v ? strcspn(v, "\n") : 0;

	if (n >= len)
		n = len - 1;
	memcpy(out, v ? v : "", n);
	out[n] = '\0';
}

int ks_machine_parse(const char *buf, struct ks_machine_file *mf, const char *file,
		     struct m2m_err *err)
{
	char salt_hex[80], nonce_hex[40];
	const char *data;
	size_t sl, nl, dl, pad = 0;
	int d;

	memset(mf, 0, sizeof(*mf));
	data = strstr(buf, "\ndata: ");
	if (!strstr(buf, MAGIC "\n") || !field((char *)buf, "inputs") ||
	    !field((char *)buf, "salt") || !field((char *)buf, "nonce") || !data)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: not a machine-bound key file", file);
	/* the additional data of the AEAD: everything before the data line */
	mf->hlen = (size_t)(data - buf) + 1;
	take(field((char *)buf, "inputs"), mf->names, sizeof(mf->names));
	if (field((char *)buf, "tpm")) {
		char line[300], *end;
		unsigned long h;

		take(field((char *)buf, "tpm"), line, sizeof(line));
		h = strtoul(line, &end, 16);
		if (*end != ' ' || !end[1] || h < 0x81000000ul || h > 0x81fffffful)
			return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: damaged header (tpm)", file);
		mf->seal_handle = (uint32_t)h;
		snprintf(mf->tcti, sizeof(mf->tcti), "%s", end + 1);
	}
	take(field((char *)buf, "salt"), salt_hex, sizeof(salt_hex));
	take(field((char *)buf, "nonce"), nonce_hex, sizeof(nonce_hex));
	if (!m2m_unhex(salt_hex, mf->salt, sizeof(mf->salt), &sl) || sl != sizeof(mf->salt) ||
	    !m2m_unhex(nonce_hex, mf->nonce, sizeof(mf->nonce), &nl) || nl != sizeof(mf->nonce))
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: damaged header (salt, nonce)", file);
	data += 7;
	dl = strcspn(data, "\n");
	if (dl == 0 || dl % 4 || dl > 64 * 1024)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: damaged data", file);
	if (data[dl - 1] == '=')
		pad++;
	if (data[dl - 2] == '=')
		pad++;
	mf->ct = malloc(dl / 4 * 3 + 4);
	if (!mf->ct)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	d = EVP_DecodeBlock(mf->ct, (const unsigned char *)data, (int)dl);
	/* at least a tag and one byte */
	if (d < 0 || (size_t)d < pad + TAG_LEN + 1) {
		free(mf->ct);
		mf->ct = NULL;
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: damaged data", file);
	}
	mf->ctlen = (size_t)d - pad;
	return M2M_OK;
}

static int machine_open(struct m2m_key *k, struct m2m_err *err)
{
	char vals[KS_MACHINE_MAX_INPUTS][MAX_VALUE];
	unsigned char kek[32], *pt = NULL;
	struct ks_machine_value v[KS_MACHINE_MAX_INPUTS];
	struct ks_machine_file mf = { 0 };
	const char *file = k->ref.path;
	size_t n, len, ptlen = 0;
	char *buf = NULL;
	int rc;

	rc = m2m_read_file(file, 64 * 1024, &buf, &len, err);
	if (rc) {
		if (!ks_exists(file))
			err->rc = rc = M2M_ERR_NOT_FOUND;
		return rc;
	}
	rc = ks_machine_parse(buf, &mf, file, err);
	if (rc)
		goto out;
	rc = collect(&mf, vals, v, &n, file, err);
	if (rc)
		goto out;
	pt = OPENSSL_secure_malloc(mf.ctlen + 1);
	if (!pt || ks_machine_derive(v, n, mf.salt, sizeof(mf.salt), kek)) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "key derivation failed");
		goto out;
	}
	if (gcm(false, kek, mf.nonce, (unsigned char *)buf, mf.hlen, mf.ct, mf.ctlen, pt, &ptlen)) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
				 "%s: this key is bound to another machine (the identity of this one differs: %s); copy it nowhere, re-enrol this device",
				 file, mf.names);
		goto out;
	}
	{
		const unsigned char *p = pt;
		PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)ptlen);

		k->priv = p8 ? EVP_PKCS82PKEY(p8) : NULL;
		PKCS8_PRIV_KEY_INFO_free(p8);
	}
	if (!k->priv) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: decrypted, but not a key", file);
		goto out;
	}
	snprintf(k->info.location, sizeof(k->info.location), "%s (bound to %s)", file, mf.names);
	rc = ks_pub_from_priv(k, err);
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(vals, sizeof(vals));
	if (pt)
		OPENSSL_secure_clear_free(pt, mf.ctlen + 1);
	free(mf.ct);
	free(buf);
	ERR_clear_error();
	return rc;
}

static int machine_sign(struct m2m_key *k, const unsigned char *dg, size_t dlen,
			unsigned char **sig, size_t *siglen, struct m2m_err *err)
{
	return ks_soft_sign(k->priv, dg, dlen, sig, siglen, err);
}

/* The key file, and the secret sealed in the TPM for it, if it has one */
static int machine_remove(const struct m2m_key_ref *ref, struct m2m_err *err)
{
	char tcti[256] = "";
	uint32_t h = sealed_handle_of(ref->path, tcti, sizeof(tcti));
	int rc;

	if (unlink(ref->path) < 0)
		return m2m_err_set(err, errno == ENOENT ? M2M_ERR_NOT_FOUND : M2M_ERR_CREDENTIAL,
				   "%s: %s", ref->path, strerror(errno));
	if (h) {
		struct m2m_key_ref seal = { .store = M2M_KEYSTORE_TPM, .tcti = tcti, .handle = h,
					    .pin = { .fd = -1 } };

		rc = ks_tpm_ops.remove(&seal, err);
		if (rc && rc != M2M_ERR_NOT_FOUND)
			return m2m_err_prefix(err, "%s removed, but not its sealed secret", ref->path);
	}
	return M2M_OK;
}

static int machine_import(const struct m2m_key_ref *ref, EVP_PKEY *pk, X509 *cert, bool replace,
			  struct m2m_err *err)
{
	(void)cert; /* the caller writes it out, if asked */
	return ks_machine_write(ref->path, pk, ref->tcti, ref->handle, replace, err);
}

const struct ks_ops ks_machine_ops = {
	.import = machine_import,
	.generate = machine_generate,
	.open = machine_open,
	.sign = machine_sign,
	.remove = machine_remove,
};

/*
 * The update package (m2m-update(5), lib/update/update.h): the manifest's
 * reader and writer, versions, the policy, packages made by upd_sign and
 * checked by the streaming verifier, written from the format's text. The
 * PKI is made once by `openssl` in the group setup: a vendor root with
 * code-signing signers, an intermediate, another CA, a self-signed signer,
 * a signer without the codeSigning EKU, a second certificate of one key.
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

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "m2m/keystore.h"
#include "update/update.h"

static char dir[64];
static char ca[128];

static const char pki_sh[] =
	"set -e; cd \"$1\"; umask 077\n"
	"key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1.key 2>/dev/null; }\n"
	"ext() { printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\n"
	"extendedKeyUsage=%s\\nsubjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\n' $1; }\n"
	"cax() { printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n"
	"subjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\n'; }\n"
	"root() { key $1; openssl req -x509 -new -key $1.key -subj \"/CN=$2\" -days 3650 -out $1.crt "
	"-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null; }\n"
	/* issue NAME CN ISSUER DAYS EXT-FUNCTION [KEY] */
	"issue() { k=${6:-$1}; [ -f $k.key ] || key $k; "
	"openssl req -new -key $k.key -subj \"/CN=$2\" -out $1.csr 2>/dev/null; $5 > $1.ext; "
	"openssl x509 -req -in $1.csr -CA $3.crt -CAkey $3.key -CAcreateserial -days $4 "
	"-extfile $1.ext -out $1.crt 2>/dev/null; }\n"
	"cs() { ext codeSigning; }\n"
	"mail() { ext emailProtection; }\n"
	"root ca 'Test Vendor Root'\n"
	"issue signer 'Test Signer' ca 3650 cs\n"
	"issue signer2 'Test Signer Two' ca 3650 cs\n"
	"issue signer1b 'Test Signer Again' ca 3650 cs signer\n"
	"issue noeku 'Test Mail Only' ca 3650 mail\n"
	"issue short 'Test Short Lived' ca 1 cs\n"
	"issue inter 'Test Vendor Intermediate' ca 3650 cax\n"
	"issue leaf 'Test Leaf Signer' inter 3650 cs\n"
	"root other 'Other Root'\n"
	"issue ointer 'Other Intermediate' other 3650 cax\n"
	"issue oleaf 'Other Leaf Signer' ointer 3650 cs\n"
	"key evil; openssl req -x509 -new -key evil.key -subj /CN=Evil -days 3650 -out evil.crt "
	"-addext extendedKeyUsage=codeSigning 2>/dev/null\n"
	"head -c 5000 /dev/urandom > payload\n"
	"printf '' > empty\n";

static int group_setup(void **state)
{
	char cmd[4096];
	FILE *fp;

	(void)state;
	strcpy(dir, "/tmp/m2m-test-updpkg.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(cmd, sizeof(cmd), "%s/pki.sh", dir);
	fp = fopen(cmd, "w");
	if (!fp || fputs(pki_sh, fp) < 0 || fclose(fp) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "sh '%s/pki.sh' '%s'", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *path(const char *name)
{
	static char buf[4][160];
	static unsigned i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

/* a signer from NAME.key / NAME.crt; the first through the key store's file key */
struct tsigner {
	struct upd_signer s;
	char cert[160], chain[160];
};

static void signer(struct tsigner *t, const char *keyname, const char *certname,
		   const char *chain)
{
	struct m2m_key_ref ref = { .store = M2M_KEYSTORE_FILE };
	struct m2m_key *k = NULL;
	struct m2m_err err = { 0 };
	char kp[160];

	memset(t, 0, sizeof(*t));
	snprintf(kp, sizeof(kp), "%s/%s.key", dir, keyname);
	snprintf(t->cert, sizeof(t->cert), "%s/%s.crt", dir, certname);
	t->s.cert = t->cert;
	if (chain) {
		snprintf(t->chain, sizeof(t->chain), "%s/%s.crt", dir, chain);
		t->s.chain = t->chain;
	}
	ref.path = kp;
	assert_int_equal(m2m_key_open(&ref, &k, &err), M2M_OK);
	assert_int_equal(m2m_key_pkey(k, NULL, NULL, (EVP_PKEY **)&t->s.key, &err), M2M_OK);
	m2m_key_close(k);
}

static void signer_free(struct tsigner *t)
{
	EVP_PKEY_free((EVP_PKEY *)t->s.key);
}

static time_t now;

static void manifest(struct upd_manifest *m, enum upd_type type, const char *version)
{
	memset(m, 0, sizeof(*m));
	m->format = 1;
	m->type = type;
	snprintf(m->name, sizeof(m->name), "pos-firmware");
	snprintf(m->version, sizeof(m->version), "%s", version);
	snprintf(m->models[0], sizeof(m->models[0]), "pos-a");
	snprintf(m->models[1], sizeof(m->models[1]), "pos b");
	m->n_models = 2;
	snprintf(m->installer, sizeof(m->installer), "rauc");
	m->expires = (int64_t)now + 30 * 86400;
}

/* a package signed by the named signers (key:cert[:chain] each) */
static void make(const char *out, struct upd_manifest *m, const char *payload, int n, ...)
{
	struct tsigner t[4];
	struct upd_signer s[4];
	struct m2m_err err = { 0 };
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *key = va_arg(ap, const char *), *cert = va_arg(ap, const char *),
			   *chain = va_arg(ap, const char *);

		signer(&t[i], key, cert, chain);
		s[i] = t[i].s;
	}
	va_end(ap);
	if (upd_sign(m, path(payload), s, (size_t)n, path(out), &err) != M2M_OK)
		fail_msg("upd_sign: %s", err.msg);
	for (int i = 0; i < n; i++)
		signer_free(&t[i]);
}

static uint8_t *slurp(const char *name, size_t *len)
{
	FILE *fp = fopen(path(name), "rb");
	uint8_t *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void spit(const char *name, const void *data, size_t len)
{
	FILE *fp = fopen(path(name), "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* what the sink saw, and the rule it checks: no byte before the verdict on the signature */
struct sink {
	struct upd_verifier *v;
	uint8_t *data;
	size_t len;
	unsigned early;
};

static int sink_fn(void *ctx, const void *data, size_t len, struct m2m_err *err)
{
	struct sink *s = ctx;

	if (!upd_verifier_manifest(s->v) || !*upd_verifier_signers(s->v))
		s->early++;
	s->data = realloc(s->data, s->len + len);
	assert_non_null(s->data);
	memcpy(s->data + s->len, data, len);
	s->len += len;
	return M2M_OK;
}

static struct upd_policy policy(void)
{
	struct upd_policy p = { .trust = ca, .model = "pos b" };

	return p;
}

/*
 * Feed buf in chunks of chunk bytes (0: one) and end. Returns the first
 * error's code; *at is the offset the verifier had reached.
 */
static int feed(const struct upd_policy *pol, const uint8_t *buf, size_t len, size_t chunk,
		struct sink *s, struct m2m_err *err)
{
	int rc;

	memset(s, 0, sizeof(*s));
	assert_int_equal(upd_verifier_new(pol, sink_fn, s, &s->v, err), M2M_OK);
	if (!chunk)
		chunk = len ? len : 1;
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		rc = upd_verifier_feed(s->v, buf + off, n, err);
		if (rc != M2M_OK)
			goto out;
	}
	rc = upd_verifier_end(s->v, err);
out:
	assert_int_equal(s->early, 0);
	return rc;
}

static void done(struct sink *s)
{
	upd_verifier_free(s->v);
	free(s->data);
	memset(s, 0, sizeof(*s));
}

/* verify a package file in chunks; the code, err filled */
static int verify(const struct upd_policy *pol, const char *name, size_t chunk, struct sink *s,
		  struct m2m_err *err)
{
	size_t len;
	uint8_t *buf = slurp(name, &len);
	int rc = feed(pol, buf, len, chunk, s, err);

	free(buf);
	return rc;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- versions, manifest */

static void test_versions(void **state)
{
	struct upd_version a, b;

	(void)state;
	assert_true(upd_version_parse("2.4.1", &a));
	assert_int_equal(a.n, 3);
	assert_true(upd_version_parse("1.2.3.4", &a));
	assert_true(upd_version_parse("999999999", &a));
	assert_false(upd_version_parse("1000000000", &a));
	assert_false(upd_version_parse("1.2.3.4.5", &a));
	assert_false(upd_version_parse("v1.2", &a));
	assert_false(upd_version_parse("1..2", &a));
	assert_false(upd_version_parse("1.2.", &a));
	assert_false(upd_version_parse(".1", &a));
	assert_false(upd_version_parse("-1", &a));
	assert_false(upd_version_parse("+1", &a));
	assert_false(upd_version_parse("", &a));
	assert_false(upd_version_parse("1.2 ", &a));
	assert_true(upd_version_parse("1.2", &a) && upd_version_parse("1.2.0", &b));
	assert_int_equal(upd_version_cmp(&a, &b), 0);
	assert_true(upd_version_parse("1.10", &b));
	assert_true(upd_version_cmp(&a, &b) < 0);
	assert_true(upd_version_cmp(&b, &a) > 0);
	assert_string_equal(upd_type_name(UPD_CONFIG), "config");
	assert_string_equal(upd_type_name(0), "unknown");
}

static const char good_json[] =
	"{\"format\": 1, \"type\": \"firmware\", \"name\": \"pos-firmware\", \"version\": \"2.4.1\","
	" \"min_installed\": \"2.0.0\", \"models\": [\"pos-a\", \"pos-b\"], \"size\": 104857600,"
	" \"sha256\": \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
	" \"installer\": \"rauc\", \"expires\": \"2027-06-01T00:00:00Z\"}\n";

/* good_json with the text from replaced by to: parse's code and message */
static int parse_with(const char *from, const char *to, struct m2m_err *err)
{
	struct upd_manifest m;
	char buf[1024];
	const char *p = strstr(good_json, from);

	assert_non_null(p);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - good_json), good_json, to, p + strlen(from));
	return upd_manifest_parse(buf, strlen(buf), &m, err);
}

static void test_manifest(void **state)
{
	struct upd_manifest m, m2;
	struct m2m_err err = { 0 };
	char *json;

	(void)state;
	assert_int_equal(upd_manifest_parse(good_json, strlen(good_json), &m, &err), M2M_OK);
	assert_int_equal(m.type, UPD_FIRMWARE);
	assert_string_equal(m.name, "pos-firmware");
	assert_string_equal(m.min_installed, "2.0.0");
	assert_int_equal(m.n_models, 2);
	assert_string_equal(m.models[1], "pos-b");
	assert_int_equal(m.size, 104857600);
	assert_int_equal(m.sha256[1], 0x11);
	assert_int_equal(m.expires, 1811808000); /* date -d 2027-06-01T00:00:00Z +%s */
	/* the canonical writer's output reads back the same, and is stable */
	json = upd_manifest_json(&m);
	assert_non_null(json);
	assert_int_equal(upd_manifest_parse(json, strlen(json), &m2, &err), M2M_OK);
	assert_memory_equal(&m, &m2, sizeof(m));
	assert_non_null(strstr(json, "\"expires\":\"2027-06-01T00:00:00Z\""));
	assert_int_equal(strncmp(json, "{\"format\":1,\"type\":\"firmware\",", 30), 0);
	free(json);
	/* not NUL-terminated: len bytes only */
	assert_int_equal(upd_manifest_parse(good_json, strlen(good_json) - 5, &m, &err),
			 M2M_ERR_INTEGRITY);

	/* each refusal: INTEGRITY, naming the key */
	struct { const char *from, *to, *says; } bad[] = {
		{ "\"format\": 1", "\"format\": 2", "format" },
		{ "\"format\": 1", "\"format\": 1.0", "format" },
		{ "\"format\": 1", "\"format\": \"1\"", "format" },
		{ "\"firmware\"", "\"Firmware\"", "type" },
		{ "\"pos-firmware\"", "\"pos firmware\"", "name" },
		{ "\"pos-firmware\"", "\"\"", "name" },
		{ "\"pos-firmware\"", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", "name" },
		{ "\"2.4.1\"", "\"v2.4.1\"", "version" },
		{ "\"2.4.1\"", "2", "version" },
		{ "\"2.0.0\"", "\"2.0.0-rc1\"", "min_installed" },
		{ "[\"pos-a\", \"pos-b\"]", "[]", "models" },
		{ "[\"pos-a\", \"pos-b\"]", "\"pos-a\"", "models" },
		{ "[\"pos-a\", \"pos-b\"]", "[\"pos-a\", 7]", "models" },
		{ "[\"pos-a\", \"pos-b\"]", "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]", "models" },
		{ "[\"pos-a\", \"pos-b\"]", "[\"pos\\u0000a\"]", "models" },
		{ "104857600", "-1", "size" },
		{ "104857600", "1e3", "size" },
		{ "104857600", "18446744073709551615", "size" },
		{ "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		  "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff", "sha256" },
		{ "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "0011", "sha256" },
		{ "\"rauc\"", "\"swupdate\"", "installer" },
		{ "2027-06-01T00:00:00Z", "2027-06-01T00:00:00+01:00", "expires" },
		{ "2027-06-01T00:00:00Z", "2027-06-01 00:00:00Z", "expires" },
		{ "2027-06-01T00:00:00Z", "2027-02-30T00:00:00Z", "expires" },
		{ "2027-06-01T00:00:00Z", "2027-06-01T24:00:00Z", "expires" },
		{ "2027-06-01T00:00:00Z", "2027-06-01T00:00:00.5Z", "expires" },
		{ "2027-06-01T00:00:00Z", "2027-06-01t00:00:00z", "expires" },
		{ "\"expires\"", "\"expiry\"", "unknown key \"expiry\"" },
		{ "\"format\": 1,", "\"format\": 1, \"comment\": \"hi\",", "unknown key \"comment\"" },
		{ "\"format\": 1,", "", "\"format\": missing" },
		{ "}\n", "} x", "JSON" },
		{ "}\n", "", "not JSON" },
		{ "}\n", ",}", "not JSON" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (parse_with(bad[i].from, bad[i].to, &err) != M2M_ERR_INTEGRITY || !strstr(err.msg, bad[i].says))
			fail_msg("case %zu (%s -> %s): rc %d \"%s\"", i, bad[i].from, bad[i].to, err.rc, err.msg);
	}
	/* min_installed is the one optional key */
	assert_int_equal(parse_with("\"min_installed\": \"2.0.0\",", "", &err), M2M_OK);
	assert_int_equal(upd_manifest_parse("[1]", 3, &m, &err), M2M_ERR_INTEGRITY);
	assert_int_equal(upd_manifest_parse("", 0, &m, &err), M2M_ERR_INTEGRITY);
}

/* ---- the policy on its own */

static void test_policy(void **state)
{
	struct upd_manifest m;
	struct upd_policy p = policy();
	struct m2m_err err = { 0 };
	const char *const down[] = { "1.9.0", NULL }, *const down2[] = { "1.9", NULL };

	(void)state;
	now = time(NULL);
	manifest(&m, UPD_SOFTWARE, "1.9.0");
	assert_int_equal(upd_policy_check(&p, &m, &err), M2M_OK);
	p.model = "pos-c";
	assert_int_equal(upd_policy_check(&p, &m, &err), M2M_ERR_REFUSED);
	assert_non_null(strstr(err.msg, "not for model \"pos-c\""));
	p = policy();
	p.installed = "2.0.0";
	assert_int_equal(upd_policy_check(&p, &m, &err), M2M_ERR_REFUSED);
	assert_non_null(strstr(err.msg, "downgrade"));
	p.downgrades = down2; /* "1.9" is not the exact "1.9.0" */
	assert_int_equal(upd_policy_check(&p, &m, &err), M2M_ERR_REFUSED);
	p.downgrades = down;
	assert_int_equal(upd_policy_check(&p, &m, &err), M2M_OK);
	p.floor = "1.9.1"; /* the floor holds even against an allowed downgrade */
	assert_int_equal(upd_policy_check(&p, &m, &err), M2M_ERR_REFUSED);
	assert_non_null(strstr(err.msg, "lowest acceptable version 1.9.1"));
	p = policy();
	p.floor = "1.9";
	assert_int_equal(upd_policy_check(&p, &m, &err), M2M_OK);
	p.installed = "1.9.0"; /* the same version again is no downgrade */
	assert_int_equal(upd_policy_check(&p, &m, &err), M2M_OK);
	snprintf(m.min_installed, sizeof(m.min_installed), "1.9.1");
	assert_int_equal(upd_policy_check(&p, &m, &err), M2M_ERR_REFUSED);
	assert_non_null(strstr(err.msg, "updates from 1.9.1 or later, and 1.9.0 is installed"));
	p.installed = NULL; /* nothing installed: min_installed does not apply */
	assert_int_equal(upd_policy_check(&p, &m, &err), M2M_OK);
	p.now = m.expires;
	assert_int_equal(upd_policy_check(&p, &m, &err), M2M_ERR_REFUSED);
	assert_non_null(strstr(err.msg, "expired"));
	p.now = m.expires - 1;
	assert_int_equal(upd_policy_check(&p, &m, &err), M2M_OK);
}

/* ---- packages */

static void test_ok(void **state)
{
	struct upd_manifest m;
	struct upd_policy p = policy();
	struct m2m_err err = { 0 };
	struct sink s;
	size_t plen, len;
	uint8_t *payload = slurp("payload", &plen), *pkg;

	(void)state;
	now = time(NULL);
	manifest(&m, UPD_SOFTWARE, "2.4.1");
	make("ok.pkg", &m, "payload", 1, "signer", "signer", NULL);
	assert_int_equal(m.size, plen);
	pkg = slurp("ok.pkg", &len);
	assert_memory_equal(pkg, UPD_MAGIC, UPD_MAGIC_LEN);
	assert_int_equal(len, UPD_HEADER_LEN + be32(pkg + 8) + be32(pkg + 12) + plen);
	for (size_t chunk = 0; chunk <= 1; chunk++) {
		if (feed(&p, pkg, len, chunk, &s, &err) != M2M_OK)
			fail_msg("chunk %zu: %s", chunk, err.msg);
		assert_int_equal(s.len, plen);
		assert_memory_equal(s.data, payload, plen);
		assert_int_equal(upd_verifier_offset(s.v), len);
		assert_non_null(upd_verifier_manifest(s.v));
		/* the whole package's size, known from the manifest (a pull's room is checked by it) */
		assert_int_equal(upd_verifier_size(s.v), len);
		assert_string_equal(upd_verifier_manifest(s.v)->version, "2.4.1");
		assert_string_equal(upd_verifier_signers(s.v), "CN=Test Signer\n");
		done(&s);
	}
	/* an odd chunk size that splits the header, the manifest and the signature */
	assert_int_equal(feed(&p, pkg, len, 7, &s, &err), M2M_OK);
	done(&s);
	/* the chain carried in the package: a signer under an intermediate */
	make("inter.pkg", &m, "payload", 1, "leaf", "leaf", "inter");
	assert_int_equal(verify(&p, "inter.pkg", 0, &s, &err), M2M_OK);
	done(&s);
	/* an empty payload */
	make("empty.pkg", &m, "empty", 1, "signer", "signer", NULL);
	assert_int_equal(verify(&p, "empty.pkg", 1, &s, &err), M2M_OK);
	assert_int_equal(s.len, 0);
	done(&s);
	/* upd_verify_file */
	memset(&m, 0, sizeof(m));
	assert_int_equal(upd_verify_file(&p, path("ok.pkg"), NULL, NULL, &m, NULL, 0, &err), M2M_OK);
	assert_string_equal(m.name, "pos-firmware");
	assert_int_equal(upd_verify_file(&p, path("none.pkg"), NULL, NULL, &m, NULL, 0, &err), M2M_ERR_NOT_FOUND);
	free(pkg);
	free(payload);
}

/* a package put together by hand: header, manifest, signature bytes, payload */
static void assemble(const char *out, const char *man, const void *sig, size_t slen)
{
	size_t plen;
	uint8_t *payload = slurp("payload", &plen);
	size_t mlen = strlen(man), len = UPD_HEADER_LEN + mlen + slen + plen;
	uint8_t *b = malloc(len);

	assert_non_null(b);
	memcpy(b, UPD_MAGIC, UPD_MAGIC_LEN);
	for (int i = 0; i < 4; i++) {
		b[8 + i] = (uint8_t)(mlen >> (24 - 8 * i));
		b[12 + i] = (uint8_t)(slen >> (24 - 8 * i));
	}
	memcpy(b + 16, man, mlen);
	memcpy(b + 16 + mlen, sig, slen);
	memcpy(b + 16 + mlen + slen, payload, plen);
	spit(out, b, len);
	free(b);
	free(payload);
}

static void expect(const char *name, size_t chunk, int rc, const char *says)
{
	struct upd_policy p = policy();
	struct m2m_err err = { 0 };
	struct sink s;
	int got = verify(&p, name, chunk, &s, &err);

	if (got != rc || !strstr(err.msg, says))
		fail_msg("%s: rc %d (want %d) \"%s\" (want \"%s\")", name, got, rc, err.msg, says);
	assert_int_equal(s.len, 0);
	assert_null(upd_verifier_manifest(s.v));
	assert_int_equal(upd_verifier_size(s.v), 0);
	done(&s);
}

static void test_not_genuine(void **state)
{
	struct upd_manifest m;
	size_t len;
	uint8_t *pkg;
	char *json;

	(void)state;
	now = time(NULL);
	manifest(&m, UPD_SOFTWARE, "2.4.1");
	make("ok.pkg", &m, "payload", 1, "signer", "signer", NULL);
	json = upd_manifest_json(&m);
	/* garbage where the signature goes, and a signature made over other bytes */
	assemble("garbage.pkg", json, "not a signature", 15);
	expect("garbage.pkg", 0, M2M_ERR_INTEGRITY, "signature: not a DER CMS");
	pkg = slurp("ok.pkg", &len);
	{
		char other[1024];

		snprintf(other, sizeof(other), "%s", json);
		*strstr(other, "2.4.1") = '3';
		assemble("othersig.pkg", other, pkg + 16 + be32(pkg + 8), be32(pkg + 12));
		expect("othersig.pkg", 1, M2M_ERR_INTEGRITY, "does not verify over the manifest");
	}
	/* one byte of the manifest changed (still a valid manifest: 2.4.1 -> 2.4.2) */
	{
		uint8_t *v = memmem(pkg + 16, be32(pkg + 8), "2.4.1", 5);

		assert_non_null(v);
		v[4] = '2';
		spit("man1.pkg", pkg, len);
		expect("man1.pkg", 0, M2M_ERR_INTEGRITY, "does not verify over the manifest");
		v[4] = '1';
		/* one byte of the signature */
		pkg[16 + be32(pkg + 8) + be32(pkg + 12) - 3] ^= 1;
		spit("sig1.pkg", pkg, len);
		expect("sig1.pkg", 1, M2M_ERR_INTEGRITY, "signature");
	}
	free(pkg);
	free(json);
	/* signers the trust anchor does not vouch for */
	make("evil.pkg", &m, "payload", 1, "evil", "evil", NULL);
	expect("evil.pkg", 0, M2M_ERR_INTEGRITY, "CN=Evil: not a trusted package signer");
	make("other.pkg", &m, "payload", 1, "oleaf", "oleaf", "ointer");
	expect("other.pkg", 1, M2M_ERR_INTEGRITY, "CN=Other Leaf Signer: not a trusted package signer");
	/* a genuine signer of the vendor, but not for code */
	make("noeku.pkg", &m, "payload", 1, "noeku", "noeku", NULL);
	expect("noeku.pkg", 0, M2M_ERR_INTEGRITY, "lacks extendedKeyUsage codeSigning");
	/* a package that outlives its signer's certificate (1 day, the manifest 30) */
	make("short.pkg", &m, "payload", 1, "short", "short", NULL);
	expect("short.pkg", 0, M2M_ERR_INTEGRITY, "certificate has expired (at the manifest's expiry)");
	m.expires = (int64_t)now + 3600;
	make("short2.pkg", &m, "payload", 1, "short", "short", NULL);
	{
		struct upd_policy p = policy();
		struct m2m_err err = { 0 };
		struct sink s;

		assert_int_equal(verify(&p, "short2.pkg", 0, &s, &err), M2M_OK);
		done(&s);
	}
}

static void test_unknown_key(void **state)
{
	struct upd_manifest m;
	struct tsigner t;
	struct m2m_err err = { 0 };
	char *json, buf[1100];

	(void)state;
	now = time(NULL);
	manifest(&m, UPD_SOFTWARE, "2.4.1");
	make("ok.pkg", &m, "payload", 1, "signer", "signer", NULL); /* fills size, sha256 */
	json = upd_manifest_json(&m);
	snprintf(buf, sizeof(buf), "{\"insecure\":true,%s", json + 1);
	signer(&t, "signer", "signer", NULL);
	assert_int_equal(upd_sign_raw(buf, strlen(buf), path("payload"), &t.s, 1, path("unknown.pkg"), &err),
			 M2M_OK);
	expect("unknown.pkg", 0, M2M_ERR_INTEGRITY, "unknown key \"insecure\"");
	/* upd_sign itself refuses to make a manifest a device would refuse */
	snprintf(m.version, sizeof(m.version), "v1");
	assert_int_equal(upd_sign(&m, path("payload"), &t.s, 1, path("bad.pkg"), &err), M2M_ERR_USAGE);
	assert_int_not_equal(access(path("bad.pkg"), F_OK), 0);
	signer_free(&t);
	free(json);
}

static void test_sign_errors(void **state)
{
	struct upd_manifest m;
	struct tsigner t;
	struct m2m_err err = { 0 };
	char cmd[256];

	(void)state;
	now = time(NULL);
	manifest(&m, UPD_SOFTWARE, "2.4.1");
	/* a certificate that is not the key's: nothing written, no temp file left */
	signer(&t, "signer", "signer2", NULL);
	assert_int_equal(upd_sign(&m, path("payload"), &t.s, 1, path("wrong.pkg"), &err), M2M_ERR_CREDENTIAL);
	assert_int_not_equal(access(path("wrong.pkg"), F_OK), 0);
	snprintf(cmd, sizeof(cmd), "ls '%s' | grep -q 'wrong.pkg'", dir);
	assert_int_not_equal(system(cmd), 0);
	signer_free(&t);
	assert_int_equal(upd_sign(&m, path("payload"), NULL, 0, path("none.pkg"), &err), M2M_ERR_USAGE);
	signer(&t, "signer", "signer", NULL);
	assert_int_equal(upd_sign(&m, path("missing"), &t.s, 1, path("none.pkg"), &err), M2M_ERR_NOT_FOUND);
	signer_free(&t);
}

static void test_stream(void **state)
{
	struct upd_manifest m;
	struct upd_policy p = policy();
	struct m2m_err err = { 0 };
	struct sink s;
	size_t len, plen;
	uint8_t *pkg, *payload = slurp("payload", &plen);
	uint64_t start;

	(void)state;
	now = time(NULL);
	manifest(&m, UPD_SOFTWARE, "2.4.1");
	make("ok.pkg", &m, "payload", 1, "signer", "signer", NULL);
	pkg = slurp("ok.pkg", &len);
	start = len - plen;

	/* one byte of the payload: all of it flows, the end says no */
	pkg[start + 100] ^= 0x40;
	memset(&s, 0, sizeof(s));
	assert_int_equal(feed(&p, pkg, len, 1, &s, &err), M2M_ERR_INTEGRITY);
	assert_non_null(strstr(err.msg, "SHA-256 is not the manifest's"));
	assert_int_equal(s.len, plen);
	done(&s);
	pkg[start + 100] ^= 0x40;

	/* truncated: in the payload, in the signature, in the header */
	assert_int_equal(feed(&p, pkg, len - 1, 0, &s, &err), M2M_ERR_INTEGRITY);
	assert_non_null(strstr(err.msg, "truncated"));
	done(&s);
	assert_int_equal(feed(&p, pkg, start - 1, 1, &s, &err), M2M_ERR_INTEGRITY);
	assert_non_null(strstr(err.msg, "truncated in its manifest or signature"));
	assert_int_equal(s.len, 0);
	done(&s);
	assert_int_equal(feed(&p, pkg, 10, 0, &s, &err), M2M_ERR_INTEGRITY);
	done(&s);

	/* extra bytes: refused at the first one, none of it to the sink */
	pkg = realloc(pkg, len + 1);
	pkg[len] = 'x';
	assert_int_equal(feed(&p, pkg, len + 1, 1, &s, &err), M2M_ERR_INTEGRITY);
	assert_non_null(strstr(err.msg, "more than the manifest's"));
	assert_int_equal(upd_verifier_offset(s.v), len);
	assert_int_equal(s.len, plen);
	/* and it stays refused */
	assert_int_equal(upd_verifier_feed(s.v, "", 0, &err), M2M_ERR_INTEGRITY);
	assert_int_equal(upd_verifier_end(s.v, &err), M2M_ERR_INTEGRITY);
	done(&s);
	assert_int_equal(feed(&p, pkg, len + 1, 0, &s, &err), M2M_ERR_INTEGRITY);
	assert_int_equal(s.len, 0);
	done(&s);

	/* lengths out of the format's bounds: refused with the header, nothing more read */
	struct { uint32_t m, s; } lens[] = {
		{ 0, 100 }, { UPD_MANIFEST_MAX + 1, 100 }, { 0xffffffffu, 100 },
		{ 100, 0 }, { 100, UPD_SIG_MAX + 1 }, { 100, 0xffffffffu },
	};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t h[UPD_HEADER_LEN + 1] = UPD_MAGIC;

		for (int j = 0; j < 4; j++) {
			h[8 + j] = (uint8_t)(lens[i].m >> (24 - 8 * j));
			h[12 + j] = (uint8_t)(lens[i].s >> (24 - 8 * j));
		}
		memset(&s, 0, sizeof(s));
		assert_int_equal(upd_verifier_new(&p, sink_fn, &s, &s.v, &err), M2M_OK);
		assert_int_equal(upd_verifier_feed(s.v, h, UPD_HEADER_LEN, &err), M2M_ERR_INTEGRITY);
		assert_non_null(strstr(err.msg, "length"));
		done(&s);
	}
	/* not the magic */
	pkg[3] = 'X';
	assert_int_equal(feed(&p, pkg, len, 0, &s, &err), M2M_ERR_INTEGRITY);
	assert_non_null(strstr(err.msg, "no magic"));
	done(&s);
	/* no trust anchor to read: the device's configuration */
	p.trust = "/nonexistent/ca.crt";
	assert_int_equal(upd_verifier_new(&p, NULL, NULL, &s.v, &err), M2M_ERR_CONFIG);
	free(pkg);
	free(payload);
}

static void test_refused(void **state)
{
	struct upd_manifest m;
	struct upd_policy p;
	struct m2m_err err = { 0 };
	struct sink s;
	const char *const down[] = { "1.9.0", NULL };

	(void)state;
	now = time(NULL);
	manifest(&m, UPD_SOFTWARE, "1.9.0");
	snprintf(m.min_installed, sizeof(m.min_installed), "1.5");
	make("old.pkg", &m, "payload", 1, "signer", "signer", NULL);

	p = policy();
	p.model = "pos-c";
	assert_int_equal(verify(&p, "old.pkg", 0, &s, &err), M2M_ERR_REFUSED);
	assert_non_null(strstr(err.msg, "not for model"));
	assert_int_equal(s.len, 0);
	done(&s);

	p = policy();
	p.installed = "2.0.0";
	assert_int_equal(verify(&p, "old.pkg", 1, &s, &err), M2M_ERR_REFUSED);
	assert_non_null(strstr(err.msg, "downgrade"));
	assert_int_equal(s.len, 0);
	done(&s);
	p.downgrades = down;
	assert_int_equal(verify(&p, "old.pkg", 0, &s, &err), M2M_OK);
	done(&s);
	p.floor = "2.0";
	assert_int_equal(verify(&p, "old.pkg", 0, &s, &err), M2M_ERR_REFUSED);
	assert_non_null(strstr(err.msg, "lowest acceptable"));
	done(&s);

	p = policy();
	p.installed = "1.4.9";
	assert_int_equal(verify(&p, "old.pkg", 0, &s, &err), M2M_ERR_REFUSED);
	assert_non_null(strstr(err.msg, "updates from 1.5 or later"));
	done(&s);
	p.installed = "1.5.0";
	assert_int_equal(verify(&p, "old.pkg", 0, &s, &err), M2M_OK);
	done(&s);

	/* expired: the device's time past the manifest's expiry */
	p = policy();
	p.now = m.expires + 1;
	assert_int_equal(verify(&p, "old.pkg", 0, &s, &err), M2M_ERR_REFUSED);
	assert_non_null(strstr(err.msg, "expired at"));
	assert_int_equal(s.len, 0);
	done(&s);
	/* a device whose clock went back to the epoch still verifies the chain */
	p.now = 86400;
	assert_int_equal(verify(&p, "old.pkg", 0, &s, &err), M2M_OK);
	done(&s);
}

static void test_two_signers(void **state)
{
	struct upd_manifest m;
	struct upd_policy p = policy();
	struct m2m_err err = { 0 };
	struct sink s;

	(void)state;
	now = time(NULL);
	p.signatures = 2;
	manifest(&m, UPD_FIRMWARE, "3.0");
	make("fw1.pkg", &m, "payload", 1, "signer", "signer", NULL);
	assert_int_equal(verify(&p, "fw1.pkg", 0, &s, &err), M2M_ERR_INTEGRITY);
	assert_non_null(strstr(err.msg, "firmware needs 2 signers with different keys, it has 1"));
	assert_int_equal(s.len, 0);
	done(&s);
	/* two certificates of one key are one signer */
	make("fwsame.pkg", &m, "payload", 2, "signer", "signer", NULL, "signer", "signer1b", NULL);
	assert_int_equal(verify(&p, "fwsame.pkg", 0, &s, &err), M2M_ERR_INTEGRITY);
	assert_non_null(strstr(err.msg, "it has 1"));
	done(&s);
	make("fw2.pkg", &m, "payload", 2, "signer", "signer", NULL, "signer2", "signer2", NULL);
	assert_int_equal(verify(&p, "fw2.pkg", 1, &s, &err), M2M_OK);
	/* CMS keeps its signers as a DER SET OF, sorted by encoding: ECDSA's random signatures
	 * make either order right */
	{
		const char *who = upd_verifier_signers(s.v);

		assert_true(strcmp(who, "CN=Test Signer\nCN=Test Signer Two\n") == 0 ||
			    strcmp(who, "CN=Test Signer Two\nCN=Test Signer\n") == 0);
	}
	done(&s);
	/* one of the two not trusted: the package is not genuine */
	make("fwevil.pkg", &m, "payload", 2, "signer", "signer", NULL, "evil", "evil", NULL);
	assert_int_equal(verify(&p, "fwevil.pkg", 0, &s, &err), M2M_ERR_INTEGRITY);
	done(&s);
	/* the count is for firmware: a software package needs one */
	m.type = UPD_SOFTWARE;
	make("sw1.pkg", &m, "payload", 1, "signer", "signer", NULL);
	assert_int_equal(verify(&p, "sw1.pkg", 0, &s, &err), M2M_OK);
	done(&s);
	p.signatures = 0; /* 0 means 1 */
	assert_int_equal(verify(&p, "fw1.pkg", 0, &s, &err), M2M_OK);
	done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_not_genuine),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_sign_errors),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_two_signers),
	};

	umask(077);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* SPDX-License-Identifier: MIT */
/*
 * The update engine through its public calls (m2m/update.h), written from
 * that header, the journal's contract (lib/update/journal.h) and
 * m2m-update(5): an install from a file and the technician's decision, the
 * health check, every refusal, the status beside a running engine, the lock,
 * the push interface, the vendor's verify and sign. The installer is a shell
 * script (the script contract of m2m-update(5)) that writes each call, its
 * argv and its environment to a file, copies the payload it was given, and
 * exits with the status found in DIR/rc.<verb>. The PKI is made once by
 * `openssl ca`, backdated to 2020 so that a manifest which expired in 2024
 * still chains at its expiry (the verifier checks the chain then).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "m2m/config.h"
#include "m2m/keystore.h"
#include "m2m/update.h"
#include "update/update.h"

#define PAYLOAD_SIZE 5000
#define BLOCK 1024
/* the installer's PATH (m2m-update(5), the script contract) */
#define SAFE_PATH "/usr/sbin:/usr/bin:/sbin:/bin"

static char dir[64];

static const char pki_sh[] =
	"set -e; cd \"$1\"; umask 077\n"
	"key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1.key 2>/dev/null; }\n"
	"cs() { printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\n"
	"extendedKeyUsage=codeSigning\\nsubjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\n'; }\n"
	"cax() { printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n"
	"subjectKeyIdentifier=hash\\n'; }\n"
	"mkdir db; : > db/index.txt; echo 'unique_subject = no' > db/index.txt.attr\n"
	"printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=db/index.txt\\nnew_certs_dir=db\\nrand_serial=yes\\n"
	"default_md=sha256\\npolicy=p\\n[p]\\ncommonName=supplied\\n' > ca.cnf\n"
	/* sign NAME CN ISSUER|- EXT-FUNCTION: valid 2020 to 2045 */
	"sign() { key $1; openssl req -new -key $1.key -subj \"/CN=$2\" -out $1.csr 2>/dev/null; $4 > $1.ext\n"
	"  if [ $3 = - ]; then set -- $1 -selfsign -keyfile $1.key; "
	"else set -- $1 -cert $3.crt -keyfile $3.key; fi\n"
	"  n=$1; shift; openssl ca -batch -notext -config ca.cnf \"$@\" -in $n.csr -out $n.crt "
	"-startdate 20200101000000Z -enddate 20450101000000Z -extfile $n.ext 2>/dev/null; }\n"
	"sign ca 'Test Vendor Root' - cax\n"
	"sign signer 'Test Signer' ca cs\n"
	"sign other 'Other Root' - cax\n"
	"sign oleaf 'Other Leaf Signer' other cs\n"
	"head -c 5000 /dev/urandom > payload\n";

/* the installer: one line a call, "VERB|argc|argv[2]|NAME|VERSION|TYPE|PAYLOAD|PATH|LC_ALL" */
static const char script_fmt[] =
	"#!/bin/sh\n"
	"D='%s'\n"
	"echo \"$1|$#|$2|$M2M_UPDATE_NAME|$M2M_UPDATE_VERSION|$M2M_UPDATE_TYPE|$M2M_UPDATE_PAYLOAD"
	"|$PATH|$LC_ALL|$M2M_UPDATE_VERB\" >> \"$D/calls\"\n"
	"if [ \"$1\" = install ]; then cp \"$2\" \"$D/got\"; fi\n"
	"rc=0; if [ -f \"$D/rc.$1\" ]; then rc=$(cat \"$D/rc.$1\"); fi\n"
	"exit $rc\n";

static const char *path(const char *name)
{
	static char buf[8][192];
	static unsigned i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static int group_setup(void **state)
{
	char cmd[512];
	FILE *fp;

	(void)state;
	strcpy(dir, "/tmp/m2m-test-updeng.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	fp = fopen(path("pki.sh"), "w");
	if (!fp || fputs(pki_sh, fp) < 0 || fclose(fp) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", path("pki.sh"), dir);
	if (system(cmd) != 0)
		return -1;
	fp = fopen(path("install.sh"), "w");
	if (!fp || fprintf(fp, script_fmt, dir) < 0 || fclose(fp) != 0)
		return -1;
	return chmod(path("install.sh"), 0700);
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the configuration and the engine ----------------------------------- */

static struct m2m_config *cfg;
static struct m2m_update *eng;
/* update.health.timeout: long, but for the tests of the bound */
static const char *health_timeout;

/* a configuration with state_dir sdir (NULL: DIR/state), an update: section
 * (unless extra is NULL) ending with extra's lines */
static struct m2m_config *config_of(const char *sdir, const char *extra)
{
	struct m2m_config *c = NULL;
	struct m2m_err err = { 0 };
	char *yaml;
	int n;

	if (extra)
		n = asprintf(&yaml,
			     "version: 1\n"
			     "state_dir: %s\n"
			     "device:\n"
			     "  id: dev1.lab\n"
			     "  model: pos-a\n"
			     "update:\n"
			     "  trust: %s\n"
			     "  download_dir: %s\n"
			     "  health:\n"
			     "    timeout: %s\n"
			     "  installers:\n"
			     "    script:\n"
			     "      path: %s\n"
			     "%s",
			     sdir ? sdir : path("state"), path("ca.crt"), path("dl"),
			     health_timeout, path("install.sh"), extra);
	else
		n = asprintf(&yaml,
			     "version: 1\n"
			     "state_dir: %s\n"
			     "device:\n"
			     "  id: dev1.lab\n"
			     "  model: pos-a\n",
			     sdir ? sdir : path("state"));
	assert_true(n > 0);
	if (m2m_config_parse(path("m2m.yaml"), yaml, strlen(yaml), &c, &err) != M2M_OK)
		fail_msg("m2m_config_parse: %s\n%s", err.msg, yaml);
	free(yaml);
	return c;
}

struct health {
	int rc;
	unsigned calls;
};

static int health_fn(void *ctx, const struct m2m_config *c, unsigned timeout_ms,
		     volatile const int *stop, struct m2m_err *err)
{
	struct health *h = ctx;

	h->calls++;
	if (h->rc != M2M_OK && h->rc != M2M_ERR_BUSY)
		return m2m_err_set(err, h->rc, "health: the test says %d", h->rc);
	return h->rc;
}

/* (re)open the engine of cfg, with a health check if h is not NULL */
static void reopen(struct health *h)
{
	struct m2m_update_opts o = { .version = M2M_UPDATE_OPTS_VERSION };
	struct m2m_err err = { 0 };
	int rc;

	if (h) {
		o.health = health_fn;
		o.health_ctx = h;
	}
	m2m_update_close(eng);
	eng = NULL;
	rc = m2m_update_open(cfg, &o, &eng, &err);
	if (rc != M2M_OK)
		fail_msg("m2m_update_open: %d %s", rc, err.msg);
}

static int setup(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "cd '%s' && rm -rf state dl nostate calls got rc.* *.m2mu", dir);
	if (system(cmd) != 0)
		return -1;
	health_timeout = "1m";
	cfg = config_of(NULL, "");
	eng = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	m2m_update_close(eng);
	eng = NULL;
	m2m_config_free(cfg);
	cfg = NULL;
	return 0;
}

/* a configuration with extra update: lines instead of the setup's */
static void reconfigure(const char *extra)
{
	m2m_update_close(eng);
	eng = NULL;
	m2m_config_free(cfg);
	cfg = config_of(NULL, extra);
}

static struct m2m_update_status get(void)
{
	struct m2m_update_status st;
	struct m2m_err err = { 0 };

	memset(&st, 0xa5, sizeof(st));
	if (m2m_update_get(eng, &st, &err) != M2M_OK)
		fail_msg("m2m_update_get: %s", err.msg);
	return st;
}

static struct m2m_update_status status(void)
{
	struct m2m_update_status st;
	struct m2m_err err = { 0 };

	memset(&st, 0xa5, sizeof(st));
	if (m2m_update_status(cfg, &st, &err) != M2M_OK)
		fail_msg("m2m_update_status: %s", err.msg);
	return st;
}

/* ---- files --------------------------------------------------------------- */

static uint8_t *slurp(const char *p, size_t *len)
{
	FILE *fp = fopen(p, "rb");
	uint8_t *buf;
	long n;

	if (!fp)
		fail_msg("%s: cannot open", p);
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

static void spit(const char *p, const void *data, size_t len)
{
	FILE *fp = fopen(p, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* the installer's calls of verb (NULL: all); the last one's line into last */
static unsigned calls(const char *verb, char *last, size_t lastlen)
{
	char line[2048];
	unsigned n = 0;
	FILE *fp = fopen(path("calls"), "r");

	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp)) {
		size_t vl = verb ? strlen(verb) : 0;

		if (verb && (strncmp(line, verb, vl) != 0 || line[vl] != '|'))
			continue;
		n++;
		if (last)
			snprintf(last, lastlen, "%s", line);
	}
	fclose(fp);
	return n;
}

static void forget_calls(void)
{
	unlink(path("calls"));
	unlink(path("got"));
}

/* ---- packages ------------------------------------------------------------ */

static void rfc3339(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t in_30_days(void)
{
	return (int64_t)time(NULL) + 30 * 86400;
}

static int sign_payload(const char *manifest, const char *signer, const char *payload,
			const char *out, struct m2m_err *err);

static int sign_as(const char *manifest, const char *signer, const char *out,
		   struct m2m_err *err)
{
	return sign_payload(manifest, signer, path("payload"), out, err);
}

static int sign_payload(const char *manifest, const char *signer, const char *payload,
			const char *out, struct m2m_err *err)
{
	char kp[192], cp[192];
	struct m2m_key_ref ref = { .store = M2M_KEYSTORE_FILE, .path = kp };
	struct m2m_update_signer s = { .cert = cp };
	struct m2m_key *k = NULL;
	int rc;

	snprintf(kp, sizeof(kp), "%s/%s.key", dir, signer);
	snprintf(cp, sizeof(cp), "%s/%s.crt", dir, signer);
	rc = m2m_key_open(&ref, &k, err);
	if (rc != M2M_OK)
		fail_msg("m2m_key_open %s: %s", kp, err->msg);
	s.key = k;
	rc = m2m_update_sign(manifest, strlen(manifest), payload, &s, 1, out, err);
	m2m_key_close(k);
	return rc;
}

/* a package (name pos-app, type software) at DIR/file; models is JSON's array body */
static const char *package_full(const char *file, const char *version, const char *models,
				const char *installer, int64_t expires, const char *signer)
{
	static char ring[8][192];
	static unsigned i;
	char m[1024], exp[32];
	struct m2m_err err = { 0 };
	char *out = ring[i++ % 8];

	snprintf(out, sizeof(ring[0]), "%s/%s", dir, file);

	rfc3339(expires, exp, sizeof(exp));
	snprintf(m, sizeof(m),
		 "{\"format\": 1, \"type\": \"software\", \"name\": \"pos-app\", \"version\": \"%s\", "
		 "\"models\": [%s], \"installer\": \"%s\", \"expires\": \"%s\"}",
		 version, models, installer, exp);
	if (sign_as(m, signer, out, &err) != M2M_OK)
		fail_msg("m2m_update_sign: %s", err.msg);
	return out;
}

static const char *package(const char *file, const char *version)
{
	return package_full(file, version, "\"pos-a\", \"pos b\"", "script", in_30_days(),
			    "signer");
}

/* install version from a file and commit it by decision; forget the installer's calls */
static void baseline(const char *version)
{
	struct m2m_err err = { 0 };
	int rc;

	if (!eng)
		reopen(NULL);
	rc = m2m_update_install(eng, package("base.m2mu", version), &err);
	if (rc != M2M_OK)
		fail_msg("baseline install %s: %d %s", version, rc, err.msg);
	rc = m2m_update_decide(eng, true, &err);
	if (rc != M2M_OK)
		fail_msg("baseline decide %s: %d %s", version, rc, err.msg);
	assert_string_equal(status().installed, version);
	forget_calls();
}

static void assert_payload_installed(void)
{
	size_t a, b;
	uint8_t *want = slurp(path("payload"), &a), *got = slurp(path("got"), &b);

	assert_int_equal(a, PAYLOAD_SIZE);
	assert_int_equal(b, a);
	assert_memory_equal(got, want, a);
	free(want);
	free(got);
}

/* ---- install from a file, and the decision -------------------------------- */

static void test_install_decide(void **state)
{
	struct m2m_update_status st;
	struct m2m_err err = { 0 };
	const char *pkg = package("a.m2mu", "2.0.0");
	char line[2048], want[1024];
	int rc;

	reopen(NULL);
	st = get();
	assert_int_equal(st.state, M2M_UPDATE_IDLE);
	assert_string_equal(m2m_update_state_name(M2M_UPDATE_IDLE), "idle");

	rc = m2m_update_install(eng, pkg, &err);
	if (rc != M2M_OK)
		fail_msg("install: %d %s", rc, err.msg);
	st = get();
	assert_int_equal(st.state, M2M_UPDATE_INSTALLED);
	assert_false(st.done);
	assert_string_equal(st.name, "pos-app");
	assert_string_equal(st.version, "2.0.0");
	assert_string_equal(st.type, "software");
	assert_string_equal(st.source, pkg);
	assert_int_equal(st.result, M2M_OK);
	assert_string_equal(st.next, "health");
	assert_string_equal(st.installed, "");  /* nothing committed yet */
	assert_string_equal(st.floor, "");

	/* the script's install ran once, by the contract, with the verified payload */
	assert_int_equal(calls(NULL, NULL, 0), 1);
	assert_int_equal(calls("install", line, sizeof(line)), 1);
	assert_true(strstr(line, "install|2|/") == line);   /* argv[2] absolute */
	{
		char *p = line + strlen("install|2|"), *bar = strchr(p, '|');

		assert_non_null(bar);
		snprintf(want, sizeof(want),
			 "|pos-app|2.0.0|software|%.*s|" SAFE_PATH "|C|install\n", (int)(bar - p), p);
		assert_string_equal(bar, want);
	}
	assert_payload_installed();

	rc = m2m_update_decide(eng, true, &err);
	if (rc != M2M_OK)
		fail_msg("decide: %d %s", rc, err.msg);
	st = get();
	assert_int_equal(st.state, M2M_UPDATE_COMMITTED);
	assert_true(st.done);
	assert_int_equal(st.result, M2M_OK);
	assert_string_equal(st.next, "none");
	assert_string_equal(st.installed, "2.0.0");
	assert_string_equal(st.floor, "2.0.0");
	assert_int_equal(calls("commit", line, sizeof(line)), 1);
	assert_string_equal(line, "commit|1||pos-app|2.0.0|software||" SAFE_PATH "|C|commit\n");
	assert_int_equal(calls("rollback", NULL, 0), 0);

	/* the status from the state directory says the same */
	st = status();
	assert_int_equal(st.state, M2M_UPDATE_COMMITTED);
	assert_true(st.done);
	assert_string_equal(st.installed, "2.0.0");
	assert_string_equal(st.floor, "2.0.0");

	/* nothing awaits a decision any more */
	assert_int_equal(m2m_update_decide(eng, true, &err), M2M_ERR_USAGE);
	assert_int_equal(m2m_update_decide(eng, false, &err), M2M_ERR_USAGE);
	assert_int_equal(calls(NULL, NULL, 0), 2);
	/* and nothing is left to continue */
	assert_int_equal(m2m_update_continue(eng, &err), M2M_OK);
	assert_int_equal(get().state, M2M_UPDATE_COMMITTED);
}

static void test_decide_bad(void **state)
{
	struct m2m_update_status st;
	struct m2m_err err = { 0 };

	baseline("1.0.0");
	assert_int_equal(m2m_update_install(eng, package("a.m2mu", "2.0.0"), &err), M2M_OK);
	assert_int_equal(m2m_update_decide(eng, false, &err), M2M_OK);
	st = get();
	assert_int_equal(st.state, M2M_UPDATE_ROLLED_BACK);
	assert_true(st.done);
	assert_string_equal(st.installed, "1.0.0");
	assert_string_equal(st.floor, "1.0.0");
	assert_int_equal(calls("rollback", NULL, 0), 1);
	assert_int_equal(calls("commit", NULL, 0), 0);
}

/* ---- the health check ----------------------------------------------------- */

static void test_health_ok(void **state)
{
	struct health h = { .rc = M2M_OK };
	struct m2m_update_status st;
	struct m2m_err err = { 0 };
	int rc;

	reopen(&h);
	rc = m2m_update_install(eng, package("a.m2mu", "2.0.0"), &err);
	if (rc != M2M_OK)
		fail_msg("install: %d %s", rc, err.msg);
	assert_true(h.calls >= 1);
	st = get();
	assert_int_equal(st.state, M2M_UPDATE_COMMITTED);
	assert_true(st.done);
	assert_string_equal(st.installed, "2.0.0");
	assert_string_equal(st.floor, "2.0.0");
	assert_int_equal(calls("install", NULL, 0), 1);
	assert_int_equal(calls("commit", NULL, 0), 1);
	assert_int_equal(calls("rollback", NULL, 0), 0);
}

static void test_health_bad(void **state)
{
	struct health h = { .rc = M2M_ERR_DOWN };
	struct m2m_update_status st;
	struct m2m_err err = { 0 };

	baseline("1.0.0");
	reopen(&h);
	assert_int_equal(m2m_update_install(eng, package("a.m2mu", "2.0.0"), &err), M2M_ERR_DOWN);
	assert_true(h.calls >= 1);
	st = get();
	assert_int_equal(st.state, M2M_UPDATE_ROLLED_BACK);
	assert_true(st.done);
	assert_int_equal(st.result, M2M_ERR_DOWN);
	assert_string_not_equal(st.message, "");
	assert_string_equal(st.installed, "1.0.0");
	assert_string_equal(st.floor, "1.0.0");
	assert_int_equal(calls("install", NULL, 0), 1);
	assert_int_equal(calls("rollback", NULL, 0), 1);
	assert_int_equal(calls("commit", NULL, 0), 0);
}

static void test_health_busy(void **state)
{
	struct health h = { .rc = M2M_ERR_BUSY };
	struct m2m_update_status st;
	struct m2m_err err = { 0 };
	int rc;

	/* 2 s, not 1: the journal's time is in whole seconds (see test_health_bound) */
	health_timeout = "2s";
	reconfigure("");
	baseline("1.0.0");
	reopen(&h);
	rc = m2m_update_install(eng, package("a.m2mu", "2.0.0"), &err);
	if (rc != M2M_OK)
		fail_msg("install: %d %s", rc, err.msg);
	assert_true(h.calls >= 1);
	st = get();
	assert_int_equal(st.state, M2M_UPDATE_INSTALLED);
	assert_false(st.done);
	assert_string_equal(st.installed, "1.0.0");
	assert_int_equal(calls("rollback", NULL, 0), 0);

	/* still within the bound: asked again, still installed */
	h.calls = 0;
	assert_int_equal(m2m_update_continue(eng, &err), M2M_OK);
	assert_true(h.calls >= 1);
	assert_int_equal(get().state, M2M_UPDATE_INSTALLED);

	/* past the bound, still undecided: rolled back */
	usleep(2200 * 1000);
	assert_int_equal(m2m_update_continue(eng, &err), M2M_ERR_TIMEOUT);
	st = get();
	assert_int_equal(st.state, M2M_UPDATE_ROLLED_BACK);
	assert_true(st.done);
	assert_int_equal(st.result, M2M_ERR_TIMEOUT);
	assert_string_equal(st.installed, "1.0.0");
	assert_int_equal(calls("rollback", NULL, 0), 1);
	assert_int_equal(calls("commit", NULL, 0), 0);
}

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* sleep until the wall clock reads t */
static void sleep_until(double t)
{
	double d = t - wall();

	if (d > 0)
		usleep((useconds_t)(d * 1e6));
}

/*
 * The health bound is a duration counted from the end of the install: a BUSY
 * answer is asked again "until the bound runs out", not before. The install
 * starts half-way through a second and ends within it; 0.55 s later, at most,
 * the next second has begun, but half of the bound (1 s) is left.
 */
static void test_health_bound(void **state)
{
	struct health h = { .rc = M2M_ERR_BUSY };
	struct m2m_err err = { 0 };
	const char *pkg;
	double t0, t1;
	int rc;

	health_timeout = "1s";
	reconfigure("");
	reopen(&h);
	pkg = package("a.m2mu", "2.0.0");
	sleep_until((double)(int64_t)wall() + 1.5);
	t0 = wall();
	rc = m2m_update_install(eng, pkg, &err);
	t1 = wall();
	if (rc != M2M_OK)
		fail_msg("install: %d %s (%.3f s after the install began)", rc, err.msg, wall() - t0);
	assert_int_equal(get().state, M2M_UPDATE_INSTALLED);
	if ((int64_t)t0 != (int64_t)t1)
		skip();  /* the install took too long to show it */
	sleep_until((double)(int64_t)t1 + 1.05);
	h.calls = 0;
	rc = m2m_update_continue(eng, &err);
	if (rc != M2M_OK || get().state != M2M_UPDATE_INSTALLED)
		fail_msg("%.3f s after the install ended (bound 1 s): %d %s, state %s", wall() - t1,
			 rc, err.msg, m2m_update_state_name(get().state));
	assert_true(h.calls >= 1);
}

/* ---- refusals ------------------------------------------------------------- */

/*
 * The installed version of pos-app is still the baseline's 2.0.0, and so is its floor:
 * the status of an update of that name says so (a refused package may not have named
 * itself in the journal: "name: the package's, once verified"). The baseline's package
 * again (the same version is no downgrade), committed again.
 */
static void still_installed(void)
{
	struct m2m_update_status st;
	struct m2m_err err = { 0 };
	int rc = m2m_update_install(eng, path("base.m2mu"), &err);

	if (rc != M2M_OK)
		fail_msg("install of base.m2mu after the refusal: %d %s", rc, err.msg);
	st = status();
	assert_string_equal(st.installed, "2.0.0");
	assert_string_equal(st.floor, "2.0.0");
	assert_int_equal(m2m_update_decide(eng, true, &err), M2M_OK);
	forget_calls();
}

/* install source: rc, nothing installed, the installed version still 2.0.0 */
static void refused(const char *source, int want)
{
	struct m2m_update_status st;
	struct m2m_err err = { 0 };
	int rc = m2m_update_install(eng, source, &err);

	if (rc != want)
		fail_msg("install %s: %d (%s), expected %d", source, rc, err.msg, want);
	assert_string_not_equal(err.msg, "");
	st = status();
	if (want == M2M_ERR_INTEGRITY || want == M2M_ERR_REFUSED || want == M2M_ERR_NOT_FOUND) {
		assert_int_equal(st.state, M2M_UPDATE_FAILED);
		assert_int_equal(st.result, want);
		assert_string_not_equal(st.message, "");
	}
	assert_int_equal(calls(NULL, NULL, 0), 0);
	still_installed();
}

static void test_refuse_other_ca(void **state)
{
	baseline("2.0.0");
	refused(package_full("x.m2mu", "2.1.0", "\"pos-a\"", "script", in_30_days(), "oleaf"),
		M2M_ERR_INTEGRITY);
}

static void test_refuse_flipped(void **state)
{
	const char *pkg;
	uint8_t *buf;
	size_t len;

	baseline("2.0.0");
	pkg = package("x.m2mu", "2.1.0");
	buf = slurp(pkg, &len);
	buf[len - PAYLOAD_SIZE / 2] ^= 0x01;
	spit(pkg, buf, len);
	free(buf);
	refused(pkg, M2M_ERR_INTEGRITY);
}

static void test_refuse_model(void **state)
{
	baseline("2.0.0");
	refused(package_full("x.m2mu", "2.1.0", "\"pos-z\", \"pos-a \"", "script", in_30_days(),
			     "signer"),
		M2M_ERR_REFUSED);
}

static void test_refuse_downgrade(void **state)
{
	baseline("2.0.0");
	refused(package("x.m2mu", "1.9.0"), M2M_ERR_REFUSED);
	/* the same version again is no downgrade */
	forget_calls();
	{
		struct m2m_err err = { 0 };

		assert_int_equal(m2m_update_install(eng, package("y.m2mu", "2.0.0"), &err), M2M_OK);
		assert_int_equal(calls("install", NULL, 0), 1);
	}
}

static void test_named_downgrade(void **state)
{
	struct m2m_err err = { 0 };
	int rc;

	reconfigure("  downgrades: [1.9.0, 0.9.0]\n");
	baseline("2.0.0");
	/* m2m-update(5), ANTI-ROLLBACK: a commit raises the floor to the committed version,
	   but not above the lowest downgrade the configuration names below it */
	assert_string_equal(status().floor, "0.9.0");
	/* below the installed version and not named: refused, nothing installed */
	assert_int_equal(m2m_update_install(eng, package("w.m2mu", "1.5.0"), &err),
			 M2M_ERR_REFUSED);
	assert_int_equal(calls(NULL, NULL, 0), 0);
	assert_string_equal(status().installed, "2.0.0");
	/* named: passes */
	rc = m2m_update_install(eng, package("y.m2mu", "1.9.0"), &err);
	if (rc != M2M_OK)
		fail_msg("named downgrade: %d %s", rc, err.msg);
	assert_int_equal(calls("install", NULL, 0), 1);
	assert_int_equal(m2m_update_decide(eng, true, &err), M2M_OK);
	assert_string_equal(status().installed, "1.9.0");
	assert_string_equal(status().floor, "0.9.0");

	/* the configuration no longer names downgrades: the next commit raises the floor to
	   the committed version */
	reconfigure("");
	baseline("2.1.0");
	assert_string_equal(status().floor, "2.1.0");
	/* a downgrade named afterwards (by whoever can write the configuration) never gets
	   below the floor: the floor is never lowered */
	reconfigure("  downgrades: [1.9.0]\n");
	reopen(NULL);
	forget_calls();
	assert_int_equal(m2m_update_install(eng, package("z.m2mu", "1.9.0"), &err),
			 M2M_ERR_REFUSED);
	assert_int_equal(calls(NULL, NULL, 0), 0);
	assert_string_equal(status().installed, "2.1.0");
	assert_string_equal(status().floor, "2.1.0");
}

static void test_refuse_expired(void **state)
{
	baseline("2.0.0");
	/* 2024-01-01T00:00:00Z: the signer's certificate (2020-2045) was valid then */
	refused(package_full("x.m2mu", "2.1.0", "\"pos-a\"", "script", 1704067200, "signer"),
		M2M_ERR_REFUSED);
}

static void test_refuse_installer(void **state)
{
	baseline("2.0.0");
	refused(package_full("x.m2mu", "2.1.0", "\"pos-a\"", "rauc", in_30_days(), "signer"),
		M2M_ERR_REFUSED);
}

static void test_refuse_sources(void **state)
{
	char cwd[512];

	baseline("2.0.0");
	package("rel.m2mu", "2.1.0");
	/* relative: refused even where it would name the file */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	{
		struct m2m_err err = { 0 };
		int rc = m2m_update_install(eng, "rel.m2mu", &err);

		assert_int_equal(chdir(cwd), 0);
		if (rc != M2M_ERR_USAGE)
			fail_msg("relative source: %d %s", rc, err.msg);
	}
	refused("rel.m2mu", M2M_ERR_USAGE);
	refused("ftp://127.0.0.1/pos-app.m2mu", M2M_ERR_CONFIG);
	refused(path("no-such.m2mu"), M2M_ERR_NOT_FOUND);
}

/* ---- status and the lock ---------------------------------------------------- */

static void test_status(void **state)
{
	struct m2m_config *c;
	struct m2m_update_status st;
	struct m2m_err err = { 0 };

	/* before any update */
	st = status();
	assert_int_equal(st.state, M2M_UPDATE_IDLE);

	/* while the engine is open (and holds the lock) */
	reopen(NULL);
	assert_int_equal(m2m_update_install(eng, package("a.m2mu", "2.0.0"), &err), M2M_OK);
	st = status();
	assert_int_equal(st.state, M2M_UPDATE_INSTALLED);
	assert_string_equal(st.version, "2.0.0");
	assert_string_equal(st.next, "health");

	/* a state directory that does not exist: idle */
	c = config_of(path("nostate/state"), "");
	memset(&st, 0xa5, sizeof(st));
	assert_int_equal(m2m_update_status(c, &st, &err), M2M_OK);
	assert_int_equal(st.state, M2M_UPDATE_IDLE);
	assert_false(st.done);
	assert_string_equal(st.installed, "");
	assert_string_equal(st.floor, "");
	m2m_config_free(c);

	/* no update: section */
	c = config_of(NULL, NULL);
	assert_null(c->update);
	assert_int_equal(m2m_update_status(c, &st, &err), M2M_ERR_CONFIG);
	m2m_config_free(c);
}

/* an err of NULL (m2m.h: m2m_err_set takes one) is the caller not wanting the words: no crash */
static void test_null_err(void **state)
{
	struct m2m_update_status st;

	reopen(NULL);
	assert_int_equal(m2m_update_status(cfg, &st, NULL), M2M_OK);
	assert_int_equal(m2m_update_install(eng, "relative.pkg", NULL), M2M_ERR_USAGE);
	assert_int_equal(m2m_update_decide(eng, true, NULL), M2M_ERR_USAGE);
	assert_int_equal(m2m_update_apply(eng, NULL), M2M_ERR_USAGE);
	assert_int_equal(m2m_update_push(eng, 0, "x", 1, NULL), M2M_ERR_USAGE);
	assert_int_equal(m2m_update_push_end(eng, NULL), M2M_ERR_USAGE);
	assert_int_equal(m2m_update_continue(eng, NULL), M2M_OK);
}

/* a firmware package pos-fw version (script installer) at DIR/file */
static const char *package_fw(const char *file, const char *version)
{
	static char out[192];
	char m[1024], exp[32];
	struct m2m_err err = { 0 };

	snprintf(out, sizeof(out), "%s/%s", dir, file);
	rfc3339(in_30_days(), exp, sizeof(exp));
	snprintf(m, sizeof(m),
		 "{\"format\": 1, \"type\": \"firmware\", \"name\": \"pos-fw\", \"version\": \"%s\", "
		 "\"models\": [\"pos-a\"], \"installer\": \"script\", \"expires\": \"%s\"}",
		 version, exp);
	if (sign_as(m, "signer", out, &err) != M2M_OK)
		fail_msg("m2m_update_sign: %s", err.msg);
	return out;
}

/* m2m_update_firmware: rc, and "name version" into buf */
static int firmware(char *buf, size_t len)
{
	char n[64], v[40];
	struct m2m_err err = { 0 };
	int rc;

	memset(n, 0xa5, sizeof(n));
	memset(v, 0xa5, sizeof(v));
	rc = m2m_update_firmware(cfg, n, sizeof(n), v, sizeof(v), &err);
	snprintf(buf, len, "%s %s", n, v);
	if (rc == M2M_OK)
		assert_string_equal(err.msg, "");
	else
		assert_string_not_equal(err.msg, "");
	return rc;
}

/*
 * The firmware the device runs (the Device object's Firmware Version, /3/0/3):
 * the firmware package last committed; not one only installed, not one rolled
 * back, not a software package.
 */
static void test_firmware(void **state)
{
	static const char *const damaged[] = { "[1]", "{\"name\": \"pos-fw\"}", "{\"version\": 2}" };
	struct m2m_err err = { 0 };
	char fw[128];
	int fd;

	assert_int_equal(firmware(fw, sizeof(fw)), M2M_ERR_NOT_FOUND);
	assert_string_equal(fw, " ");
	baseline("1.0.0");  /* software */
	assert_int_equal(firmware(fw, sizeof(fw)), M2M_ERR_NOT_FOUND);

	assert_int_equal(m2m_update_install(eng, package_fw("f.m2mu", "2.0.0"), &err), M2M_OK);
	assert_string_equal(get().type, "firmware");
	assert_int_equal(firmware(fw, sizeof(fw)), M2M_ERR_NOT_FOUND); /* installed, not committed */
	assert_int_equal(m2m_update_decide(eng, true, &err), M2M_OK);
	assert_int_equal(firmware(fw, sizeof(fw)), M2M_OK);
	assert_string_equal(fw, "pos-fw 2.0.0");

	/* rolled back: the device still runs 2.0.0 */
	assert_int_equal(m2m_update_install(eng, package_fw("f.m2mu", "3.0.0"), &err), M2M_OK);
	assert_int_equal(m2m_update_decide(eng, false, &err), M2M_OK);
	assert_int_equal(firmware(fw, sizeof(fw)), M2M_OK);
	assert_string_equal(fw, "pos-fw 2.0.0");

	/* a software package committed since changes nothing */
	assert_int_equal(m2m_update_install(eng, package("a.m2mu", "2.1.0"), &err), M2M_OK);
	assert_int_equal(m2m_update_decide(eng, true, &err), M2M_OK);
	assert_string_equal(status().installed, "2.1.0");
	assert_int_equal(firmware(fw, sizeof(fw)), M2M_OK);
	assert_string_equal(fw, "pos-fw 2.0.0");

	/* the next firmware committed replaces it */
	assert_int_equal(m2m_update_install(eng, package_fw("f.m2mu", "3.0.0"), &err), M2M_OK);
	assert_int_equal(m2m_update_decide(eng, true, &err), M2M_OK);
	assert_int_equal(firmware(fw, sizeof(fw)), M2M_OK);
	assert_string_equal(fw, "pos-fw 3.0.0");

	/* a damaged record is an error, never a version */
	for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
		fd = open(path("state/update.firmware"), O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, damaged[i], strlen(damaged[i])), (ssize_t)strlen(damaged[i]));
		close(fd);
		assert_int_equal(firmware(fw, sizeof(fw)), M2M_ERR_FAILURE);
		assert_string_equal(fw, " ");
	}

	/* the bootloader fell back to a slot whose firmware nobody knows: no version claimed */
	{
		static const char unknown[] = "{\"slot\":\"A\",\"fallback\":{\"name\":\"pos-fw\","
			"\"version\":\"3.0.0\",\"slot\":\"B\",\"committed\":1000,\"time\":2000}}";
		struct m2m_update_fw_info fi = { .version = M2M_UPDATE_FW_INFO_VERSION };

		fd = open(path("state/update.firmware"), O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, unknown, strlen(unknown)), (ssize_t)strlen(unknown));
		close(fd);
		assert_int_equal(firmware(fw, sizeof(fw)), M2M_ERR_NOT_FOUND);
		assert_string_equal(fw, " ");
		assert_int_equal(m2m_update_fw_info(cfg, &fi, &err), M2M_OK);
		assert_string_equal(fi.fw_version, "");
		assert_string_equal(fi.slot, "A");
		assert_true(fi.fell_back);
		assert_string_equal(fi.from_version, "3.0.0");
		assert_string_equal(fi.from_slot, "B");
		assert_int_equal(fi.from_committed, 1000);
		assert_int_equal(fi.fell_back_at, 2000);
		fi.version = 0;
		assert_int_equal(m2m_update_fw_info(cfg, &fi, &err), M2M_ERR_USAGE);
	}

	/* no update: section: no engine to ask */
	{
		struct m2m_config *c = config_of(NULL, NULL);
		char n[64], v[40];

		assert_int_equal(m2m_update_firmware(c, n, sizeof(n), v, sizeof(v), NULL),
				 M2M_ERR_CONFIG);
		assert_string_equal(v, "");
		m2m_config_free(c);
	}
}

static void test_open_busy(void **state)
{
	struct m2m_update_opts o = { .version = M2M_UPDATE_OPTS_VERSION };
	struct m2m_update *second = NULL;
	struct m2m_err err = { 0 };
	struct m2m_config *c;

	reopen(NULL);
	assert_int_equal(m2m_update_open(cfg, &o, &second, &err), M2M_ERR_BUSY);
	assert_null(second);
	m2m_update_close(eng);
	eng = NULL;
	assert_int_equal(m2m_update_open(cfg, &o, &second, &err), M2M_OK);
	m2m_update_close(second);

	/* CONFIG without an update: section */
	c = config_of(NULL, NULL);
	second = NULL;
	assert_int_equal(m2m_update_open(c, &o, &second, &err), M2M_ERR_CONFIG);
	assert_null(second);
	m2m_config_free(c);
}

/* ---- the push interface ----------------------------------------------------- */

/* the header's length: magic, M, S, manifest, signature */
static size_t header_len(const uint8_t *p)
{
	uint32_t m = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
	uint32_t s = (uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 | (uint32_t)p[14] << 8 | p[15];

	return 16 + (size_t)m + s;
}

/* the largest regular file in the download directory, 0 if none; *n: how many */
static off_t downloads(int *n)
{
	DIR *d = opendir(path("dl"));
	struct dirent *e;
	off_t max = 0;

	if (n)
		*n = 0;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char p[512];
		struct stat sb;

		snprintf(p, sizeof(p), "%s/%s", path("dl"), e->d_name);
		if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		if (n)
			(*n)++;
		if (sb.st_size > max)
			max = sb.st_size;
	}
	closedir(d);
	return max;
}

static off_t largest_download(void)
{
	return downloads(NULL);
}

static int download_files(void)
{
	int n;

	downloads(&n);
	return n;
}

static void test_push(void **state)
{
	struct m2m_update_status st;
	struct m2m_err err = { 0 };
	size_t len, off = 0, last = 0;
	uint8_t *buf = slurp(package("a.m2mu", "2.0.0"), &len);
	int rc;

	reopen(NULL);
	assert_int_equal(m2m_update_push_begin(eng, &err), M2M_OK);
	assert_string_equal(get().source, "push");
	while (off < len) {
		size_t n = len - off < BLOCK ? len - off : BLOCK;

		rc = m2m_update_push(eng, off, buf + off, n, &err);
		if (rc != M2M_OK)
			fail_msg("push at %zu: %d %s", off, rc, err.msg);
		last = off;
		off += n;
	}
	/* the last block again: a retransmission, ignored */
	assert_int_equal(m2m_update_push(eng, last, buf + last, len - last, &err), M2M_OK);
	assert_int_equal(calls(NULL, NULL, 0), 0);
	rc = m2m_update_push_end(eng, &err);
	if (rc != M2M_OK)
		fail_msg("push_end: %d %s", rc, err.msg);
	st = get();
	assert_int_equal(st.state, M2M_UPDATE_INSTALLED);
	assert_string_equal(st.version, "2.0.0");
	assert_string_equal(st.source, "push");
	assert_int_equal(st.offset, len);
	assert_int_equal(calls("install", NULL, 0), 1);
	assert_payload_installed();
	assert_int_equal(m2m_update_decide(eng, true, &err), M2M_OK);
	assert_string_equal(status().installed, "2.0.0");
	free(buf);
}

/*
 * The blocks of a push reach the file 64 KiB at a time (a write() a block was
 * a system call in each round trip of the push), never more than that behind
 * what was pushed, each MiB whole once pushed (handed to the disk, as a
 * pull's), and all of it before the package is verified from the disk.
 */
static void test_push_held(void **state)
{
	char m[512], exp[32];
	struct m2m_err err = { 0 };
	size_t len, plen, glen, off = 0;
	uint8_t *buf, *want, *got;
	FILE *f = fopen(path("big"), "wb");
	int rc;

	(void)state;
	assert_non_null(f);
	for (int i = 0; i < 1300 * 1024; i++)
		fputc(i * 7 % 251, f);
	fclose(f);
	rfc3339(in_30_days(), exp, sizeof(exp));
	snprintf(m, sizeof(m),
		 "{\"format\": 1, \"type\": \"software\", \"name\": \"pos-app\", "
		 "\"version\": \"2.0.0\", \"models\": [\"pos-a\"], \"installer\": \"script\", "
		 "\"expires\": \"%s\"}", exp);
	if (sign_payload(m, "signer", path("big"), path("big.m2mu"), &err) != M2M_OK)
		fail_msg("sign: %s", err.msg);
	buf = slurp(path("big.m2mu"), &len);
	reopen(NULL);
	assert_int_equal(m2m_update_push_begin(eng, &err), M2M_OK);
	while (off < len) {
		size_t n = len - off < BLOCK ? len - off : BLOCK;
		off_t on_disk;

		rc = m2m_update_push(eng, off, buf + off, n, &err);
		if (rc != M2M_OK)
			fail_msg("push at %zu: %d %s", off, rc, err.msg);
		off += n;
		on_disk = largest_download();
		if ((size_t)on_disk > off || off - (size_t)on_disk >= 64 * 1024 ||
		    on_disk % (64 * 1024))
			fail_msg("%zu bytes pushed, %lld in the file", off, (long long)on_disk);
		if (off / (1024 * 1024) > (off - n) / (1024 * 1024) && on_disk < 1024 * 1024)
			fail_msg("a MiB pushed, %lld bytes in the file", (long long)on_disk);
	}
	rc = m2m_update_push_end(eng, &err);
	if (rc != M2M_OK)
		fail_msg("push_end: %d %s", rc, err.msg);
	assert_int_equal(get().state, M2M_UPDATE_INSTALLED);
	want = slurp(path("big"), &plen);
	got = slurp(path("got"), &glen);
	assert_int_equal(glen, plen);
	assert_memory_equal(got, want, plen);
	assert_int_equal(m2m_update_decide(eng, true, &err), M2M_OK);
	free(want);
	free(got);
	free(buf);
}

static void test_push_wrong_offset(void **state)
{
	struct m2m_err err = { 0 };
	size_t len;
	uint8_t *buf = slurp(package("a.m2mu", "2.0.0"), &len);

	reopen(NULL);
	assert_int_equal(m2m_update_push_begin(eng, &err), M2M_OK);
	assert_int_equal(m2m_update_push(eng, 0, buf, BLOCK, &err), M2M_OK);
	assert_int_equal(m2m_update_push(eng, BLOCK, buf + BLOCK, BLOCK, &err), M2M_OK);
	/* a gap */
	assert_int_equal(m2m_update_push(eng, 3 * BLOCK, buf + 3 * BLOCK, BLOCK, &err),
			 M2M_ERR_PROTOCOL);
	/* not the last block, but one before it */
	err.rc = 0;
	assert_int_equal(m2m_update_push(eng, 0, buf, BLOCK, &err), M2M_ERR_PROTOCOL);
	assert_int_equal(calls(NULL, NULL, 0), 0);
	free(buf);
}

/* push the package in blocks until one is refused: its rc, at offset *at */
static int push_until_refused(const uint8_t *buf, size_t len, size_t *at, struct m2m_err *err)
{
	int rc = M2M_OK;

	assert_int_equal(m2m_update_push_begin(eng, err), M2M_OK);
	for (*at = 0; *at < len; *at += BLOCK) {
		size_t n = len - *at < BLOCK ? len - *at : BLOCK;

		rc = m2m_update_push(eng, *at, buf + *at, n, err);
		if (rc != M2M_OK)
			break;
		assert_true(largest_download() <= (off_t)(*at + n));
	}
	return rc;
}

static void test_push_refused(void **state)
{
	struct m2m_update_status st;
	struct m2m_err err = { 0 };
	size_t len, hdr, at;
	uint8_t *buf;
	int rc;

	baseline("2.0.0");
	buf = slurp(package_full("x.m2mu", "2.1.0", "\"pos-a\"", "script", in_30_days(), "oleaf"),
		    &len);
	hdr = header_len(buf);
	assert_true(hdr < len - BLOCK);
	rc = push_until_refused(buf, len, &at, &err);
	if (rc != M2M_ERR_INTEGRITY)
		fail_msg("other CA pushed: %d at %zu (header %zu): %s", rc, at, hdr, err.msg);
	/* at the block that completes the signature, before any payload byte is kept */
	assert_true(at < hdr);
	if (largest_download() > (off_t)hdr)
		fail_msg("the download holds %lld bytes, the header is %zu",
			 (long long)largest_download(), hdr);
	st = get();
	assert_int_equal(st.state, M2M_UPDATE_FAILED);
	assert_int_equal(st.result, M2M_ERR_INTEGRITY);
	assert_int_equal(calls(NULL, NULL, 0), 0);
	still_installed();
	free(buf);

	/* not a package at all: refused at the first block */
	buf = slurp(path("payload"), &len);
	rc = push_until_refused(buf, len, &at, &err);
	assert_int_equal(rc, M2M_ERR_INTEGRITY);
	assert_int_equal(at, 0);
	assert_int_equal(get().state, M2M_UPDATE_FAILED);
	assert_int_equal(get().result, M2M_ERR_INTEGRITY);
	free(buf);

	/* another model: refused (18) as soon as the manifest shows it */
	buf = slurp(package_full("y.m2mu", "2.1.0", "\"pos-z\"", "script", in_30_days(), "signer"),
		    &len);
	hdr = header_len(buf);
	rc = push_until_refused(buf, len, &at, &err);
	assert_int_equal(rc, M2M_ERR_REFUSED);
	assert_true(at < hdr);
	assert_true(largest_download() <= (off_t)hdr);
	assert_int_equal(get().result, M2M_ERR_REFUSED);
	assert_int_equal(calls(NULL, NULL, 0), 0);
	free(buf);
}

static void test_push_abandoned(void **state)
{
	struct m2m_update_status st;
	struct m2m_err err = { 0 };
	size_t len;
	uint8_t *buf = slurp(package("a.m2mu", "2.0.0"), &len);

	reopen(NULL);
	assert_int_equal(m2m_update_push_begin(eng, &err), M2M_OK);
	assert_int_equal(m2m_update_push(eng, 0, buf, BLOCK, &err), M2M_OK);
	assert_int_equal(m2m_update_push(eng, BLOCK, buf + BLOCK, BLOCK, &err), M2M_OK);
	reopen(NULL);
	assert_int_equal(m2m_update_continue(eng, &err), M2M_ERR_UNREACHABLE);
	st = get();
	assert_int_equal(st.state, M2M_UPDATE_FAILED);
	assert_true(st.done);
	assert_int_equal(st.result, M2M_ERR_UNREACHABLE);
	assert_string_not_equal(st.message, "");
	assert_int_equal(calls(NULL, NULL, 0), 0);

	/* and the sender pushes again */
	assert_int_equal(m2m_update_push_begin(eng, &err), M2M_OK);
	free(buf);
}

static void test_push_busy(void **state)
{
	struct m2m_err err = { 0 };

	reopen(NULL);
	assert_int_equal(m2m_update_install(eng, package("a.m2mu", "2.0.0"), &err), M2M_OK);
	assert_int_equal(get().state, M2M_UPDATE_INSTALLED);
	assert_int_equal(m2m_update_push_begin(eng, &err), M2M_ERR_BUSY);
	/* and so is another install */
	assert_int_equal(m2m_update_install(eng, package("b.m2mu", "2.1.0"), &err), M2M_ERR_BUSY);
	assert_int_equal(get().state, M2M_UPDATE_INSTALLED);
	assert_string_equal(get().version, "2.0.0");
	assert_int_equal(calls("install", NULL, 0), 1);
}

/*
 * upd_engine_cancel (lib/update's own call for the LwM2M object's cancel): a push
 * under way and a verified package held for the server's Update go back to idle
 * with their download removed; an installed update cannot be cancelled.
 */
static void test_cancel(void **state)
{
	struct m2m_update_opts o = { .version = M2M_UPDATE_OPTS_VERSION, .hold = true };
	struct m2m_err err = { 0 };
	size_t len;
	uint8_t *buf = slurp(package("a.m2mu", "2.0.0"), &len);

	reopen(NULL);
	assert_int_equal(m2m_update_push_begin(eng, &err), M2M_OK);
	assert_int_equal(m2m_update_push(eng, 0, buf, BLOCK, &err), M2M_OK);
	assert_int_equal(m2m_update_push(eng, BLOCK, buf + BLOCK, BLOCK, &err), M2M_OK);
	assert_true(download_files() > 0); /* its blocks may still be held, not written */
	assert_int_equal(upd_engine_cancel(eng, &err), M2M_OK);
	assert_int_equal(get().state, M2M_UPDATE_IDLE);
	assert_int_equal(status().state, M2M_UPDATE_IDLE);
	assert_int_equal(download_files(), 0);
	/* the push is over: its next block is refused, a new one is taken */
	assert_int_equal(m2m_update_push(eng, 2 * BLOCK, buf + 2 * BLOCK, BLOCK, &err),
			 M2M_ERR_USAGE);
	assert_int_equal(m2m_update_push_begin(eng, &err), M2M_OK);
	assert_int_equal(upd_engine_cancel(eng, &err), M2M_OK);

	/* held once verified (LwM2M's Downloaded) */
	m2m_update_close(eng);
	eng = NULL;
	assert_int_equal(m2m_update_open(cfg, &o, &eng, &err), M2M_OK);
	assert_int_equal(m2m_update_install(eng, package("a.m2mu", "2.0.0"), &err), M2M_OK);
	assert_int_equal(get().state, M2M_UPDATE_VERIFIED);
	assert_true(largest_download() > 0);
	assert_int_equal(upd_engine_cancel(eng, &err), M2M_OK);
	assert_int_equal(get().state, M2M_UPDATE_IDLE);
	assert_int_equal(largest_download(), 0);
	assert_int_equal(m2m_update_apply(eng, &err), M2M_ERR_USAGE);
	assert_int_equal(upd_engine_cancel(eng, &err), M2M_ERR_USAGE); /* nothing to cancel */
	assert_int_equal(calls(NULL, NULL, 0), 0);

	/* installed: too late */
	reopen(NULL);
	assert_int_equal(m2m_update_install(eng, package("a.m2mu", "2.0.0"), &err), M2M_OK);
	assert_int_equal(get().state, M2M_UPDATE_INSTALLED);
	assert_int_equal(upd_engine_cancel(eng, &err), M2M_ERR_USAGE);
	assert_int_equal(get().state, M2M_UPDATE_INSTALLED);
	free(buf);
}

/* ---- the vendor side ------------------------------------------------------------ */

static void sha256_hex(const char *file, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	size_t len;
	uint8_t *buf = slurp(file, &len);

	assert_int_equal(EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL), 1);
	for (unsigned i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	free(buf);
}

static void test_verify(void **state)
{
	struct m2m_update_info info;
	struct m2m_err err = { 0 };
	int64_t exp = in_30_days();
	const char *good = package_full("g.m2mu", "2.4.1", "\"pos-a\", \"pos b\"", "script", exp,
					"signer");
	const char *other = package_full("o.m2mu", "2.4.1", "\"pos-a\"", "script", exp, "oleaf");
	char hex[65];
	uint8_t *buf;
	size_t len;
	int rc;

	memset(&info, 0xa5, sizeof(info));
	rc = m2m_update_verify(good, path("ca.crt"), NULL, 0, &info, &err);
	if (rc != M2M_OK)
		fail_msg("verify: %d %s", rc, err.msg);
	assert_string_equal(info.name, "pos-app");
	assert_string_equal(info.version, "2.4.1");
	assert_string_equal(info.type, "software");
	assert_string_equal(info.installer, "script");
	assert_string_equal(info.models, "pos-a,pos b");
	assert_int_equal(info.size, PAYLOAD_SIZE);
	sha256_hex(path("payload"), hex);
	assert_string_equal(info.sha256, hex);
	assert_int_equal(info.expires, exp);
	assert_string_not_equal(info.signers, "");
	assert_non_null(strstr(info.signers, "Test Signer"));

	assert_int_equal(m2m_update_verify(good, path("ca.crt"), "pos b", 1, &info, &err), M2M_OK);
	assert_int_equal(m2m_update_verify(good, path("ca.crt"), "pos-a", 0, &info, &err), M2M_OK);
	rc = m2m_update_verify(good, path("ca.crt"), "pos-z", 0, &info, &err);
	if (rc != M2M_ERR_REFUSED)
		fail_msg("another model: %d %s", rc, err.msg);
	rc = m2m_update_verify(good, path("ca.crt"), "pos", 0, &info, &err);
	if (rc != M2M_ERR_REFUSED)
		fail_msg("a prefix of a model: %d %s", rc, err.msg);
	/* not genuine */
	assert_int_equal(m2m_update_verify(other, path("ca.crt"), NULL, 0, &info, &err),
			 M2M_ERR_INTEGRITY);
	assert_int_equal(m2m_update_verify(other, path("other.crt"), NULL, 0, &info, &err), M2M_OK);
	assert_int_equal(m2m_update_verify(good, path("other.crt"), NULL, 0, &info, &err),
			 M2M_ERR_INTEGRITY);
	buf = slurp(good, &len);
	buf[len - 1] ^= 0x80;
	spit(path("bad.m2mu"), buf, len);
	assert_int_equal(m2m_update_verify(path("bad.m2mu"), path("ca.crt"), NULL, 0, &info, &err),
			 M2M_ERR_INTEGRITY);
	spit(path("bad.m2mu"), buf, len - 1);
	assert_int_equal(m2m_update_verify(path("bad.m2mu"), path("ca.crt"), NULL, 0, &info, &err),
			 M2M_ERR_INTEGRITY);
	free(buf);
	/* expired: genuine, refused */
	assert_int_equal(m2m_update_verify(package_full("e.m2mu", "2.4.1", "\"pos-a\"", "script",
							1704067200, "signer"),
					   path("ca.crt"), NULL, 0, &info, &err),
			 M2M_ERR_REFUSED);
}

static void test_sign_usage(void **state)
{
	static const char no_name[] =
		"{\"format\": 1, \"type\": \"software\", \"version\": \"1.0\", \"models\": [\"pos-a\"], "
		"\"installer\": \"script\", \"expires\": \"2040-01-01T00:00:00Z\"}";
	static const char with_name[] =
		"{\"format\": 1, \"type\": \"software\", \"name\": \"pos-app\", \"version\": \"1.0\", "
		"\"models\": [\"pos-a\"], \"installer\": \"script\", \"expires\": \"2040-01-01T00:00:00Z\"}";
	struct m2m_err err = { 0 };
	struct stat sb;

	assert_int_equal(sign_as(no_name, "signer", path("n.m2mu"), &err), M2M_ERR_USAGE);
	assert_string_not_equal(err.msg, "");
	assert_int_equal(stat(path("n.m2mu"), &sb), -1);
	memset(&err, 0, sizeof(err));
	assert_int_equal(sign_as(with_name, "signer", path("n.m2mu"), &err), M2M_OK);
	assert_int_equal(stat(path("n.m2mu"), &sb), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_install_decide),
		T(test_decide_bad),
		T(test_health_ok),
		T(test_health_bad),
		T(test_health_busy),
		T(test_health_bound),
		T(test_refuse_other_ca),
		T(test_refuse_flipped),
		T(test_refuse_model),
		T(test_refuse_downgrade),
		T(test_named_downgrade),
		T(test_refuse_expired),
		T(test_refuse_installer),
		T(test_refuse_sources),
		T(test_status),
		T(test_firmware),
		T(test_open_busy),
		T(test_null_err),
		T(test_push),
		T(test_push_held),
		T(test_push_wrong_offset),
		T(test_push_refused),
		T(test_push_abandoned),
		T(test_push_busy),
		T(test_cancel),
		T(test_verify),
		T(test_sign_usage),
#undef T
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

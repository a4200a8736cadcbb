/*
 * lib/update's "config" installer (install_config.c): install, commit and
 * rollback, each repeated; a payload the validator refuses, or one that
 * could never be updated again, leaves the current file alone; every state
 * a power cut can leave (made by hand) ends where the call means to go.
 * The "trust" installer (the same file steps over update.trust): CA
 * certificates only, at least one.
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
#include <unistd.h>

#include "update/install_config.h"

struct fx {
	char dir[64];
	char cfg[128], prev[128], payload[128], trust[128];
};

#define CONF_FMT                                                                                   \
	"version: 1\n"                                                                             \
	"device: {id: dev1.lab, model: pos-a}\n"                                                   \
	"update:\n"                                                                                \
	"  trust: %s\n"                                                                            \
	"  timeout: %s\n"

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* a valid configuration whose update.timeout tells the versions apart */
static void put_conf(const struct fx *x, const char *path, const char *version)
{
	char buf[512];

	snprintf(buf, sizeof(buf), CONF_FMT, x->trust, version);
	put(path, buf);
}

/* whether path holds configuration version (or, with NULL, does not exist) */
static void expect(const struct fx *x, const char *path, const char *version)
{
	char want[512], got[1024] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	if (!version) {
		if (f)
			fail_msg("%s exists", path);
		return;
	}
	if (!f)
		fail_msg("%s missing", path);
	n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = '\0';
	fclose(f);
	snprintf(want, sizeof(want), CONF_FMT, x->trust, version);
	assert_string_equal(got, want);
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	snprintf(x->dir, sizeof(x->dir), "/tmp/m2m-cfginst.XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(x->cfg, sizeof(x->cfg), "%s/m2m.yaml", x->dir);
	snprintf(x->prev, sizeof(x->prev), "%s/m2m.yaml.prev", x->dir);
	snprintf(x->payload, sizeof(x->payload), "%s/payload", x->dir);
	snprintf(x->trust, sizeof(x->trust), "%s/trust.pem", x->dir);
	put(x->trust, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
	put_conf(x, x->cfg, "1h");
	assert_int_equal(chmod(x->cfg, 0640), 0);
	put_conf(x, x->payload, "2h");
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->dir);
	assert_int_equal(system(cmd), 0);
	free(x);
	return 0;
}

static void test_install_commit(void **state)
{
	struct fx *x = *state;
	struct m2m_err err = { 0 };
	struct stat st;

	assert_int_equal(upd_config_install(x->cfg, x->payload, &err), M2M_OK);
	expect(x, x->cfg, "2h");
	expect(x, x->prev, "1h");
	assert_int_equal(stat(x->cfg, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640); /* the old file's mode */
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(stat(x->prev, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* again: nothing changes, .prev still the old one */
	assert_int_equal(upd_config_install(x->cfg, x->payload, &err), M2M_OK);
	expect(x, x->cfg, "2h");
	expect(x, x->prev, "1h");
	assert_int_equal(upd_config_commit(x->cfg, &err), M2M_OK);
	expect(x, x->cfg, "2h");
	expect(x, x->prev, NULL);
	assert_int_equal(upd_config_commit(x->cfg, &err), M2M_OK);
	expect(x, x->cfg, "2h");
	/* a rollback after the commit has nothing to roll back to */
	assert_int_equal(upd_config_rollback(x->cfg, &err), M2M_OK);
	expect(x, x->cfg, "2h");
	/* and the same payload once more: installed already */
	assert_int_equal(upd_config_install(x->cfg, x->payload, &err), M2M_OK);
	expect(x, x->prev, NULL);
}

static void test_install_rollback(void **state)
{
	struct fx *x = *state;
	struct m2m_err err = { 0 };
	struct stat st;

	assert_int_equal(chmod(x->cfg, 0644), 0); /* world-readable: cut to 0640 */
	assert_int_equal(upd_config_install(x->cfg, x->payload, &err), M2M_OK);
	assert_int_equal(stat(x->cfg, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(upd_config_rollback(x->cfg, &err), M2M_OK);
	expect(x, x->cfg, "1h");
	expect(x, x->prev, NULL);
	assert_int_equal(upd_config_rollback(x->cfg, &err), M2M_OK);
	expect(x, x->cfg, "1h");
	expect(x, x->prev, NULL);
	assert_int_equal(upd_config_commit(x->cfg, &err), M2M_OK);
	expect(x, x->cfg, "1h");
}

static void refused(struct fx *x, const char *payload_text, int rc, const char *msg)
{
	struct m2m_err err = { 0 };

	put(x->payload, payload_text);
	assert_int_equal(upd_config_install(x->cfg, x->payload, &err), rc);
	if (!strstr(err.msg, msg))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
	expect(x, x->cfg, "1h");
	expect(x, x->prev, NULL);
}

static void test_refused(void **state)
{
	struct fx *x = *state;
	char buf[512], msg[256];

	/* YAML that does not parse: the position in the file it will become */
	snprintf(msg, sizeof(msg), "new configuration: %s:3:1: YAML syntax error", x->cfg);
	refused(x, "version: 1\ndevice: [\n", M2M_ERR_CONFIG, msg);
	/* valid YAML, wrong key: file:line:column from the validator */
	snprintf(buf, sizeof(buf), "version: 1\ndevice: {id: d, model: m}\nupdate:\n  turst: %s\n",
		 x->trust);
	snprintf(msg, sizeof(msg), "new configuration: %s:4:3:", x->cfg);
	refused(x, buf, M2M_ERR_CONFIG, msg);
	/* no update: section: could never be updated again */
	refused(x, "version: 1\ndevice: {id: d, model: m}\n", M2M_ERR_REFUSED, "no update: section");
	/* a trust anchor that is not there */
	snprintf(buf, sizeof(buf), CONF_FMT, "/nonexistent/trust.pem", "1h");
	refused(x, buf, M2M_ERR_REFUSED, "update.trust /nonexistent/trust.pem");
}

/* the check before an install: what install would refuse, nothing touched; a moved state_dir */
static void test_check(void **state)
{
	struct fx *x = *state;
	struct m2m_err err = { 0 };
	char buf[512];

	assert_int_equal(upd_config_check(x->cfg, x->payload, false, &err), M2M_OK);
	expect(x, x->cfg, "1h");
	expect(x, x->prev, NULL);
	snprintf(buf, sizeof(buf), CONF_FMT "state_dir: %s/elsewhere\n", x->trust, "2h", x->dir);
	put(x->payload, buf);
	assert_int_equal(upd_config_check(x->cfg, x->payload, false, &err), M2M_ERR_REFUSED);
	assert_non_null(strstr(err.msg, "state_dir moves"));
	assert_int_equal(upd_config_install(x->cfg, x->payload, &err), M2M_ERR_REFUSED);
	expect(x, x->cfg, "1h");
	/* a .prev that is not this update's: BUSY before anything is touched */
	put_conf(x, x->payload, "2h");
	put_conf(x, x->prev, "9h");
	assert_int_equal(upd_config_check(x->cfg, x->payload, false, &err), M2M_ERR_BUSY);
	expect(x, x->cfg, "1h");
	expect(x, x->prev, "9h");
}

static void test_missing(void **state)
{
	struct fx *x = *state;
	struct m2m_err err = { 0 };
	char other[160];

	snprintf(other, sizeof(other), "%s/absent.yaml", x->dir);
	assert_int_equal(upd_config_install(other, x->payload, &err), M2M_ERR_NOT_FOUND);
	expect(x, other, NULL);
	snprintf(other, sizeof(other), "%s/absent-payload", x->dir);
	assert_int_equal(upd_config_install(x->cfg, other, &err), M2M_ERR_NOT_FOUND);
	expect(x, x->cfg, "1h");
}

/* S1 of install_config.c: a cut after .prev was kept (or after a rollback's rename) */
static void openssl(const struct fx *x, const char *args)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "cd '%s' && openssl %s >/dev/null 2>&1", x->dir, args);
	assert_int_equal(system(cmd), 0);
}

static char *slurp_text(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_trust(void **state)
{
	struct fx *x = *state;
	struct m2m_err err = { 0 };
	char old[8192], fresh[8192], path[160];

	openssl(x, "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout a.key "
		   "-out a.pem -subj /CN=old-root -days 30");
	openssl(x, "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout b.key "
		   "-out b.pem -subj /CN=new-root -days 30");
	/* a certificate that is not a CA (RFC 5280 basicConstraints cA false) */
	openssl(x, "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout l.key "
		   "-out leaf.pem -subj /CN=leaf -days 30 -addext basicConstraints=critical,CA:FALSE");
	snprintf(path, sizeof(path), "%s/a.pem", x->dir);
	snprintf(old, sizeof(old), "%s", slurp_text(path));
	put(x->trust, old);
	snprintf(path, sizeof(path), "%s/b.pem", x->dir);
	snprintf(fresh, sizeof(fresh), "%s", slurp_text(path));

	/* refused: no certificate, a leaf; the anchors untouched, no .prev */
	put(x->payload, "not a certificate\n");
	assert_int_equal(upd_trust_install(x->trust, x->payload, &err), M2M_ERR_REFUSED);
	snprintf(path, sizeof(path), "%s/leaf.pem", x->dir);
	put(x->payload, slurp_text(path));
	assert_int_equal(upd_trust_install(x->trust, x->payload, &err), M2M_ERR_REFUSED);
	assert_string_equal(slurp_text(x->trust), old);
	snprintf(path, sizeof(path), "%s.prev", x->trust);
	assert_int_equal(access(path, F_OK), -1);

	/* rotated, the old kept until commit; rollback puts it back */
	put(x->payload, fresh);
	assert_int_equal(upd_trust_install(x->trust, x->payload, &err), M2M_OK);
	assert_int_equal(upd_trust_install(x->trust, x->payload, &err), M2M_OK);
	assert_string_equal(slurp_text(x->trust), fresh);
	assert_string_equal(slurp_text(path), old);
	assert_int_equal(upd_config_rollback(x->trust, &err), M2M_OK);
	assert_string_equal(slurp_text(x->trust), old);
	assert_int_equal(access(path, F_OK), -1);
	/* and committed: the new anchors stay, no .prev */
	assert_int_equal(upd_trust_install(x->trust, x->payload, &err), M2M_OK);
	assert_int_equal(upd_config_commit(x->trust, &err), M2M_OK);
	assert_string_equal(slurp_text(x->trust), fresh);
	assert_int_equal(access(path, F_OK), -1);
}

static void make_s1(struct fx *x)
{
	char p[160];

	put_conf(x, x->prev, "1h");
	/* what the cut left half-written */
	snprintf(p, sizeof(p), "%s.new", x->cfg);
	put(p, "version: 1\ndevi");
	snprintf(p, sizeof(p), "%s.prev.new", x->cfg);
	put(p, "ver");
}

static void test_cut_states(void **state)
{
	struct fx *x = *state;
	struct m2m_err err = { 0 };
	char p[160];

	/* S1, install again: only the new file over P */
	make_s1(x);
	assert_int_equal(upd_config_install(x->cfg, x->payload, &err), M2M_OK);
	expect(x, x->cfg, "2h");
	expect(x, x->prev, "1h");
	snprintf(p, sizeof(p), "%s.new", x->cfg);
	assert_int_equal(access(p, F_OK), -1); /* leftovers gone */
	snprintf(p, sizeof(p), "%s.prev.new", x->cfg);
	assert_int_equal(access(p, F_OK), -1);
	/* S2 (installed), install again: nothing to do */
	assert_int_equal(upd_config_install(x->cfg, x->payload, &err), M2M_OK);
	expect(x, x->cfg, "2h");
	expect(x, x->prev, "1h");
	/* S2 and another payload: an update is pending, nothing touched */
	put_conf(x, x->payload, "3h");
	assert_int_equal(upd_config_install(x->cfg, x->payload, &err), M2M_ERR_BUSY);
	expect(x, x->cfg, "2h");
	expect(x, x->prev, "1h");
	/* S1 again (a rollback cut after its rename): rollback finishes it */
	put_conf(x, x->cfg, "1h");
	make_s1(x);
	assert_int_equal(upd_config_rollback(x->cfg, &err), M2M_OK);
	expect(x, x->cfg, "1h");
	expect(x, x->prev, NULL);
	/* S2 made by hand, rollback */
	put_conf(x, x->cfg, "2h");
	put_conf(x, x->prev, "1h");
	assert_int_equal(upd_config_rollback(x->cfg, &err), M2M_OK);
	expect(x, x->cfg, "1h");
	expect(x, x->prev, NULL);
	/* S2 made by hand, commit */
	put_conf(x, x->cfg, "2h");
	put_conf(x, x->prev, "1h");
	assert_int_equal(upd_config_commit(x->cfg, &err), M2M_OK);
	expect(x, x->cfg, "2h");
	expect(x, x->prev, NULL);
	/* S0 with a half-written .prev.new: a fresh install ignores it */
	put_conf(x, x->cfg, "1h");
	put_conf(x, x->payload, "2h");
	snprintf(p, sizeof(p), "%s.prev.new", x->cfg);
	put(p, "garbage");
	assert_int_equal(upd_config_install(x->cfg, x->payload, &err), M2M_OK);
	expect(x, x->cfg, "2h");
	expect(x, x->prev, "1h");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_trust, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_states, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* lib/update's installers: the lookup, RAUC's status JSON and error lines, the bounded run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "update/install.h"

static void test_find(void **state)
{
	(void)state;
	assert_ptr_equal(upd_installer_find("rauc"), &upd_installer_rauc);
	assert_ptr_equal(upd_installer_find("script"), &upd_installer_script);
	assert_ptr_equal(upd_installer_find("config"), &upd_installer_config);
	assert_null(upd_installer_find("RAUC"));
	assert_null(upd_installer_find(""));
	assert_null(upd_installer_find(NULL));
	assert_string_equal(upd_installer_rauc.name, "rauc");
	assert_string_equal(upd_installer_script.name, "script");
}

/* what RAUC 1.8 prints (rauc status --output-format=json), from the lab */
static const char status_json[] =
	"{\"compatible\":\"m2m-lab-device\",\"variant\":\"\",\"booted\":\"A\",\"boot_primary\":\"rootfs.1\","
	"\"slots\":[{\"rootfs.1\":{\"class\":\"rootfs\",\"device\":\"/x/rootfs.1\",\"type\":\"raw\","
	"\"bootname\":\"B\",\"state\":\"inactive\",\"parent\":null,\"mountpoint\":null,\"boot_status\":\"bad\"}},"
	"{\"rootfs.0\":{\"class\":\"rootfs\",\"device\":\"/x/rootfs.0\",\"type\":\"raw\",\"bootname\":\"A\","
	"\"state\":\"booted\",\"parent\":null,\"mountpoint\":null,\"boot_status\":\"good\"}}]}\n";

static void test_parse_status(void **state)
{
	struct upd_slot_status st;
	struct m2m_err err = { 0 };
	const struct upd_slot *a, *b;

	(void)state;
	assert_int_equal(upd_rauc_parse_status(status_json, &st, &err), M2M_OK);
	assert_string_equal(st.booted, "A");
	assert_string_equal(st.primary, "B");
	assert_string_equal(st.compatible, "m2m-lab-device");
	assert_int_equal(st.n, 2);
	a = upd_slot_find(&st, "A");
	b = upd_slot_find(&st, "B");
	assert_non_null(a);
	assert_non_null(b);
	assert_null(upd_slot_find(&st, "C"));
	assert_string_equal(a->name, "rootfs.0");
	assert_true(a->booted && !a->primary && a->boot == UPD_BOOT_GOOD);
	assert_true(!b->booted && b->primary && b->boot == UPD_BOOT_BAD);
	assert_string_equal(b->class_, "rootfs");
	assert_string_equal(upd_boot_status_name(b->boot), "bad");
	assert_string_equal(a->version, "");
}

/* rauc status --detailed: each slot's bundle version, when RAUC installed one there */
static void test_parse_status_detailed(void **state)
{
	static const char json[] =
		"{\"booted\":\"A\",\"boot_primary\":\"rootfs.0\",\"slots\":["
		"{\"rootfs.0\":{\"class\":\"rootfs\",\"bootname\":\"A\",\"state\":\"booted\","
		"\"boot_status\":\"good\",\"slot_status\":{\"bundle\":{\"compatible\":\"m2m-lab-device\","
		"\"version\":\"2.0.0\"},\"status\":\"ok\"}}},"
		"{\"rootfs.1\":{\"class\":\"rootfs\",\"bootname\":\"B\",\"state\":\"inactive\","
		"\"boot_status\":\"good\",\"slot_status\":{\"bundle\":{\"compatible\":null}}}},"
		"{\"rootfs.2\":{\"class\":\"rootfs\",\"bootname\":\"C\",\"state\":\"inactive\","
		"\"boot_status\":\"good\",\"slot_status\":{\"bundle\":{\"version\":"
		"\"1.0.0-a-version-longer-than-the-field-holds\"}}}}]}";
	struct upd_slot_status st;
	struct m2m_err err = { 0 };

	(void)state;
	assert_int_equal(upd_rauc_parse_status(json, &st, &err), M2M_OK);
	assert_string_equal(upd_slot_find(&st, "A")->version, "2.0.0");
	assert_string_equal(upd_slot_find(&st, "B")->version, "");
	/* never cut short into another version */
	assert_string_equal(upd_slot_find(&st, "C")->version, "");
}

/* A, B of class rootfs: booted, primary, and each one's boot status */
static void slots(struct upd_slot_status *st, const char *booted, const char *primary,
		  const char *a, const char *b)
{
	char json[768];
	struct m2m_err err = { 0 };

	snprintf(json, sizeof(json),
		 "{\"booted\":\"%s\",\"boot_primary\":\"rootfs.%d\",\"slots\":["
		 "{\"rootfs.0\":{\"class\":\"rootfs\",\"bootname\":\"A\",\"state\":\"%s\",\"boot_status\":\"%s\"}},"
		 "{\"rootfs.1\":{\"class\":\"rootfs\",\"bootname\":\"B\",\"state\":\"%s\",\"boot_status\":\"%s\"}}]}",
		 booted, *primary == 'B', *booted == 'A' ? "booted" : "inactive", a,
		 *booted == 'B' ? "booted" : "inactive", b);
	assert_int_equal(upd_rauc_parse_status(json, st, &err), M2M_OK);
}

static void test_rollback_plan(void **state)
{
	struct upd_slot_status st;
	const struct upd_slot *old, *fresh;
	struct m2m_err err = { 0 };
	bool mark;

	(void)state;
	/* installed into B, not rebooted: A primary again, B bad */
	slots(&st, "A", "B", "good", "good");
	assert_int_equal(upd_rauc_rollback_plan(&st, "B", &old, &fresh, &mark, &err), M2M_OK);
	assert_string_equal(old->name, "rootfs.0");
	assert_string_equal(fresh->name, "rootfs.1");
	assert_true(mark);
	/* rebooted into B, unhealthy */
	slots(&st, "B", "B", "good", "good");
	assert_int_equal(upd_rauc_rollback_plan(&st, "B", &old, &fresh, &mark, &err), M2M_OK);
	assert_string_equal(old->name, "rootfs.0");
	assert_true(mark);
	/* RAUC refused the bundle before writing B: B stays the good fallback it is */
	slots(&st, "A", "A", "good", "good");
	assert_int_equal(upd_rauc_rollback_plan(&st, "B", &old, &fresh, &mark, &err), M2M_OK);
	assert_string_equal(old->name, "rootfs.0");
	assert_string_equal(fresh->name, "rootfs.1");
	assert_false(mark);
	/* the bootloader gave up on B and marked it bad itself */
	slots(&st, "A", "A", "good", "bad");
	assert_int_equal(upd_rauc_rollback_plan(&st, "B", &old, &fresh, &mark, &err), M2M_OK);
	assert_false(mark);
	/* guessed: the primary that is not booted, or the booted one marked bad */
	slots(&st, "A", "B", "good", "good");
	assert_int_equal(upd_rauc_rollback_plan(&st, NULL, &old, &fresh, &mark, &err), M2M_OK);
	assert_string_equal(fresh->name, "rootfs.1");
	assert_true(mark);
	slots(&st, "B", "B", "good", "bad");
	assert_int_equal(upd_rauc_rollback_plan(&st, "", &old, &fresh, &mark, &err), M2M_OK);
	assert_string_equal(fresh->name, "rootfs.1");
	assert_true(mark);
	/* a slot RAUC does not know */
	assert_int_equal(upd_rauc_rollback_plan(&st, "C", &old, &fresh, &mark, &err),
			 M2M_ERR_NOT_FOUND);
}

static void test_parse_status_odd(void **state)
{
	struct upd_slot_status st;
	struct m2m_err err = { 0 };

	(void)state;
	/* chatter before the JSON is skipped; no primary and no boot status are not errors */
	assert_int_equal(upd_rauc_parse_status("noise\n{\"booted\":null,\"boot_primary\":null,\"slots\":"
					       "[{\"r.0\":{\"bootname\":\"A\",\"state\":\"inactive\"}}]}",
					       &st, &err), M2M_OK);
	assert_string_equal(st.booted, "");
	assert_string_equal(st.primary, "");
	assert_int_equal(st.slot[0].boot, UPD_BOOT_UNKNOWN);
	assert_int_equal(upd_rauc_parse_status("", &st, &err), M2M_ERR_FAILURE);
	assert_int_equal(upd_rauc_parse_status(NULL, &st, &err), M2M_ERR_FAILURE);
	assert_int_equal(upd_rauc_parse_status("{\"slots\":{}}", &st, &err), M2M_ERR_FAILURE);
	assert_int_equal(upd_rauc_parse_status("{\"slots\":[]}", &st, &err), M2M_ERR_FAILURE);
	assert_int_equal(upd_rauc_parse_status("{\"slots\":[1,\"x\",{\"a\":2}]}", &st, &err),
			 M2M_ERR_FAILURE);
	assert_int_equal(upd_rauc_parse_status("{\"slots\":[{\"a\":", &st, &err), M2M_ERR_FAILURE);
}

/* the lines RAUC 1.8 printed in the lab for each case */
static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(upd_rauc_classify("LastError: signature verification failed: Verify error: "
					   "unable to get local issuer certificate"), M2M_ERR_INTEGRITY);
	assert_int_equal(upd_rauc_classify("LastError: Invalid bundle format: Signature size "
					   "(10755620263431665477) exceeds bundle size"), M2M_ERR_INTEGRITY);
	assert_int_equal(upd_rauc_classify("LastError: Installation error: Compatible mismatch: Expected "
					   "'a' but bundle manifest has 'b'"), M2M_ERR_REFUSED);
	assert_int_equal(upd_rauc_classify("RAUC service disappeared"), M2M_ERR_DAEMON);
	assert_int_equal(upd_rauc_classify("Error retrieving slot status via D-Bus: error creating proxy: "
					   "Could not connect: No such file or directory"), M2M_ERR_DAEMON);
	assert_int_equal(upd_rauc_classify("Failed GDBus.Error:org.freedesktop.DBus.Error.ServiceUnknown: "
					   "The name de.pengutronix.rauc was not provided by any .service files"),
			 M2M_ERR_DAEMON);
	assert_int_equal(upd_rauc_classify("LastError: bundle payload is corrupted"), M2M_ERR_INTEGRITY);
	/* only a bundle that does not verify is INTEGRITY (counted as a security event) */
	assert_int_equal(upd_rauc_classify("LastError: Installation error: Failed updating slot rootfs.1: "
					   "failed to copy image: No space left on device"), 0);
	assert_int_equal(upd_rauc_classify("Failed updating all checksums"), 0);
	assert_int_equal(upd_rauc_classify("LastError: Unsupported checksum algorithm for image x"), 0);
	assert_int_equal(upd_rauc_classify("Invalid bundle format configuration 'plain', no remaining "
					   "formats"), 0);
	assert_int_equal(upd_rauc_classify(" 40% Verifying signature done."), 0);
	assert_int_equal(upd_rauc_classify("Installing `/b.raucb` succeeded"), 0);
	assert_int_equal(upd_rauc_classify(NULL), 0);
}

struct lines {
	int n[3];
	char last_out[128];
};

static void on_line(void *ctx, int fd, const char *line)
{
	struct lines *l = ctx;

	l->n[fd]++;
	if (fd == 1)
		snprintf(l->last_out, sizeof(l->last_out), "%s", line);
}

static void test_run(void **state)
{
	const char *argv[] = { "/bin/sh", "-c",
			       "echo one; echo two; echo err1 >&2; printf 'err2\\n\\n' >&2; "
			       "printf tail; exit 3", NULL };
	const char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct lines l = { { 0 }, "" };
	struct upd_spawn r = { .argv = argv, .envp = envp, .timeout_ms = 5000, .on_line = on_line,
			     .line_ctx = &l };
	struct m2m_err err = { 0 };

	(void)state;
	assert_int_equal(upd_spawn(&r, &err), M2M_OK);
	assert_false(r.timed_out);
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 3);
	assert_int_equal(l.n[1], 3);              /* one, two and the unterminated tail */
	assert_string_equal(l.last_out, "tail");
	assert_string_equal(r.last_err, "err2");  /* the last non-empty one */
}

/* out_dir: the output goes to files (emptied, 0600), read as it comes, their disk bounded */
static void test_run_files(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "echo one; echo err1 >&2; sleep 0.2; "
			       "yes line | head -n 300000; printf tail", NULL };
	const char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	char dir[] = "/tmp/m2m-unit-outXXXXXX", path[64];
	struct lines l = { { 0 }, "" };
	struct upd_spawn r = { .argv = argv, .envp = envp, .timeout_ms = 20000, .on_line = on_line,
			     .line_ctx = &l, .out_dir = dir };
	struct m2m_err err = { 0 };
	struct stat st;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, UPD_OUTPUT_ERR);
	f = fopen(path, "w");            /* a stale one, readable by all */
	assert_non_null(f);
	fputs("stale\n", f);
	fclose(f);
	chmod(path, 0644);
	assert_int_equal(upd_spawn(&r, &err), M2M_OK);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	assert_int_equal(l.n[1], 300002);         /* one, 300000 lines (1.5 MB), the tail */
	assert_int_equal(l.n[2], 1);              /* not the stale line */
	assert_string_equal(l.last_out, "tail");
	assert_string_equal(r.last_err, "err1");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "%s/%s", dir, UPD_OUTPUT_OUT);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* what was read is punched out: the disk it takes is bounded, its size is not */
	assert_true(st.st_size > 1400000);
	assert_true((uint64_t)st.st_blocks * 512 <= UPD_OUTPUT_MAX);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", dir, UPD_OUTPUT_ERR);
	unlink(path);
	rmdir(dir);
}

static void test_run_timeout(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "trap '' TERM; sleep 0.1; echo started >&2; "
			       "while :; do sleep 0.1; done", NULL };
	const char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct upd_spawn r = { .argv = argv, .envp = envp, .timeout_ms = 300 };
	struct m2m_err err = { 0 };
	uint64_t t0 = m2m_now_ms(), dt;

	(void)state;
	assert_int_equal(upd_spawn(&r, &err), M2M_OK);
	dt = m2m_now_ms() - t0;
	assert_true(r.timed_out);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), 9);  /* it ignored SIGTERM */
	assert_true(dt >= 300 + UPD_KILL_GRACE_MS);
	assert_true(dt < 300 + UPD_KILL_GRACE_MS + 1500);
	assert_string_equal(r.last_err, "started");
}

static void test_run_missing(void **state)
{
	const char *argv[] = { "/nonexistent/prog", NULL };
	const char *rel[] = { "sh", NULL };
	const char *envp[] = { NULL };
	struct upd_spawn r = { .argv = argv, .envp = envp, .timeout_ms = 1000 };
	struct m2m_err err = { 0 };

	(void)state;
	assert_int_equal(upd_spawn(&r, &err), M2M_ERR_NOT_FOUND);
	r.argv = rel;                              /* no PATH search */
	assert_int_equal(upd_spawn(&r, &err), M2M_ERR_FAILURE);
}

/* the gate: the helper exists in its own group and has not run when started is told */
struct gate {
	char mark[64];
	int pid, rc;
	bool ran_before;
};

static int gate_started(void *ctx, const struct upd_proc *p, struct m2m_err *err)
{
	struct gate *g = ctx;

	g->pid = p->pgid;
	assert_int_equal(getpgid(p->pgid), p->pgid);
	assert_true(p->start > 0);
	assert_int_equal(strlen(p->boot), 36);
	assert_int_equal(p->limit_ms, 5000);
	usleep(200 * 1000);
	g->ran_before = access(g->mark, F_OK) == 0;
	return g->rc ? m2m_err_set(err, g->rc, "journal: full") : M2M_OK;
}

static void test_run_gate(void **state)
{
	struct gate g = { .rc = 0 };
	const char *argv[] = { "/bin/sh", "-c", "echo $$ > \"$0\"", g.mark, NULL };
	const char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct upd_spawn r = { .argv = argv, .envp = envp, .timeout_ms = 5000,
			     .started = gate_started, .started_ctx = &g };
	struct m2m_err err = { 0 };
	char buf[32] = "";
	FILE *fp;

	(void)state;
	snprintf(g.mark, sizeof(g.mark), "/tmp/m2m-test-gate.%d", (int)getpid());
	unlink(g.mark);
	assert_int_equal(upd_spawn(&r, &err), M2M_OK);
	assert_false(g.ran_before);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	fp = fopen(g.mark, "re");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_int_equal(atoi(buf), g.pid);      /* the group recorded is the helper's */
	unlink(g.mark);
	/* not recorded: never run, and the recorder's error is the answer */
	g.rc = M2M_ERR_STORAGE;
	assert_int_equal(upd_spawn(&r, &err), M2M_ERR_STORAGE);
	usleep(100 * 1000);
	assert_int_equal(access(g.mark, F_OK), -1);
	assert_int_equal(kill(g.pid, 0), -1);    /* and reaped */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_parse_status),
		cmocka_unit_test(test_parse_status_detailed),
		cmocka_unit_test(test_parse_status_odd),
		cmocka_unit_test(test_rollback_plan),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_run_files),
		cmocka_unit_test(test_run_timeout),
		cmocka_unit_test(test_run_missing),
		cmocka_unit_test(test_run_gate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

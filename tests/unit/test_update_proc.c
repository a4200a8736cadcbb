/* SPDX-License-Identifier: MIT */
/*
 * An installer an earlier run started (lib/update/install.h: upd_proc_*):
 * its group told from a later one with the same number or from another boot,
 * a leader gone while a member works, a zombie nobody reaped, the wait that
 * ends when the group does, the kill at its own deadline, and the run's bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "update/install.h"

/*
 * A child in a group of its own running sh -c script. Debian's sh (dash)
 * forks even the last command of -c: a script whose process must be the
 * group's only one says exec (else killing the leader leaves its child in
 * the group, once sh was scheduled soon enough to start it).
 */
static pid_t group_of(const char *script)
{
	pid_t c = fork();

	assert_true(c >= 0);
	if (c == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	setpgid(c, c);
	return c;
}

static void test_identity(void **state)
{
	struct m2m_err err = { 0 };
	struct upd_proc p, q;
	pid_t c = group_of("exec sleep 5");

	(void)state;
	assert_int_equal(upd_proc_of(c, 1000, &p, &err), M2M_OK);
	assert_int_equal(p.pgid, c);
	assert_true(upd_proc_alive(&p));
	q = p;
	q.start++;                       /* another process got the number */
	assert_false(upd_proc_alive(&q));
	q = p;
	q.boot[0] = q.boot[0] == '0' ? '1' : '0'; /* recorded in another boot */
	assert_false(upd_proc_alive(&q));
	kill(c, SIGKILL);
	/* a zombie (its parent, here we, has not reaped it) runs nothing */
	usleep(100 * 1000);
	assert_false(upd_proc_alive(&p));
	waitpid(c, NULL, 0);
	assert_false(upd_proc_alive(&p));
	assert_int_equal(upd_proc_of(c, 1000, &q, &err), M2M_ERR_NOT_FOUND);
}

/* the leader gone, a member of its group still works: alive until it ends */
static void test_member(void **state)
{
	struct m2m_err err = { 0 };
	struct upd_proc p;
	pid_t c = group_of("sleep 0.6 & exit 0");
	uint64_t t0 = m2m_now_ms();

	(void)state;
	assert_int_equal(upd_proc_of(c, 10000, &p, &err), M2M_OK);
	waitpid(c, NULL, 0);
	assert_true(upd_proc_alive(&p));
	assert_int_equal(upd_proc_wait(&p, 5000, NULL, &err), M2M_OK);
	assert_true(m2m_now_ms() - t0 >= 500);
	assert_false(upd_proc_alive(&p));
}

/* its own deadline: killed (TERM, then KILL if it stays), TIMEOUT */
static void test_deadline(void **state)
{
	struct m2m_err err = { 0 };
	struct upd_proc p;
	pid_t c = group_of("trap '' TERM; while :; do sleep 0.05; done");
	uint64_t t0 = m2m_now_ms(), dt;
	int ws = 0;

	(void)state;
	assert_int_equal(upd_proc_of(c, 400, &p, &err), M2M_OK);
	/* not this run's bound: BUSY, still running */
	assert_int_equal(upd_proc_wait(&p, 100, NULL, &err), M2M_ERR_BUSY);
	assert_true(upd_proc_alive(&p));
	assert_int_equal(upd_proc_wait(&p, 60000, NULL, &err), M2M_ERR_TIMEOUT);
	dt = m2m_now_ms() - t0;
	assert_true(dt >= 400 - 20 + UPD_KILL_GRACE_MS);   /* start: a tick's rounding */
	assert_true(dt < 400 + UPD_KILL_GRACE_MS + 1500);
	waitpid(c, &ws, 0);
	assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
	assert_non_null(strstr(err.msg, "did not finish within 400 ms"));
}

static void test_stop(void **state)
{
	struct m2m_err err = { 0 };
	struct upd_proc p;
	pid_t c = group_of("exec sleep 5");
	volatile int stop = 1;

	(void)state;
	assert_int_equal(upd_proc_of(c, 60000, &p, &err), M2M_OK);
	assert_int_equal(upd_proc_wait(&p, 60000, &stop, &err), M2M_ERR_BUSY);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	assert_int_equal(upd_proc_wait(&p, 60000, &stop, &err), M2M_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_member),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

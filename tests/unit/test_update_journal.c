/* SPDX-License-Identifier: MIT */
/*
 * The journaled state machine of an update (lib/update/journal.h): every
 * transition, recovery from each state, a record torn at every byte, a kill -9
 * right after every journal write and inside every step (each side effect
 * counted in the files the fakes write), the journal's bound, the lock, and
 * the anti-rollback floor that is never lowered.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "update/journal.h"
#include "../tools/upd-fakes.h"

#define CHUNK 4096
#define SIZE (4 * CHUNK - 100) /* four chunks: three checkpoints */
#define SRC "https://updates.example/pos-2.4.1.m2mu"
#define WRITES_OK 11           /* records of an uninterrupted run that commits */

static char dir[64], sdir[96], wdir[96];

static int setup(void **state)
{
	(void)state;
	/* thousands of runs, each flushing its journal: memory, where there is some (the
	   power cut on a real disk is tests/integration/301-update-powercut.t) */
	snprintf(dir, sizeof(dir), "%s/m2m-test-upd.XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sdir, sizeof(sdir), "%s/state", dir);
	snprintf(wdir, sizeof(wdir), "%s/work", dir);
	return mkdir(wdir, 0700);
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* a fresh state directory and work directory */
static void reset(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' && mkdir '%s'", sdir, wdir, wdir);
	assert_int_equal(system(cmd), 0);
}

static void fake_init(struct fake *f, enum fake_fail fail)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s", wdir);
	f->size = SIZE;
	f->chunk = CHUNK;
	f->fail = fail;
	f->clock = 1000000;
}

static struct m2m_state st;
static bool hold; /* the next open_upd() holds at verified */

static struct upd *open_upd(struct fake *f)
{
	struct upd_opts o = { .ops = &fake_ops, .ctx = f, .floor = &upd_floor_file_ops,
			      .floor_ctx = &st, .health_timeout_ms = 60000, .hold = hold };
	struct m2m_err err = { 0 };
	struct upd *u = NULL;
	int rc = m2m_state_open(&st, sdir, &err);

	if (rc == M2M_OK)
		rc = upd_open(&st, &o, &u, &err);
	if (rc)
		fail_msg("upd_open: %d %s", rc, err.msg);
	return u;
}

static void close_upd(struct upd *u)
{
	upd_close(u);
	m2m_state_close(&st);
}

/* start an update and run it as far as it goes; its result and the last record */
static int run_fresh(struct fake *f, struct upd_record *last, struct m2m_err *err)
{
	struct upd *u = open_upd(f);
	int rc = upd_start(u, SRC, err);

	if (rc == M2M_OK)
		rc = upd_run(u, err);
	if (last)
		*last = *upd_last(u);
	close_upd(u);
	return rc;
}

/* open (recovering) and run what is left */
static int run_on(struct fake *f, struct upd_record *last, struct m2m_err *err)
{
	struct upd *u = open_upd(f);
	int rc = upd_run(u, err);

	if (last)
		*last = *upd_last(u);
	close_upd(u);
	return rc;
}

static unsigned journal_lines(void)
{
	char path[160], line[8192];
	unsigned n = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", sdir, UPD_JOURNAL_NAME);
	fp = fopen(path, "re");
	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		n++;
	fclose(fp);
	return n;
}

static void read_work(const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *fp;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", wdir, name);
	buf[0] = '\0';
	fp = fopen(path, "re");
	if (fp) {
		n = fread(buf, 1, len - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
}

static void floor_of(const char *name, char *v, size_t len)
{
	struct m2m_err err = { 0 };

	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(upd_floor_file_ops.get(&st, name, v, len, &err), M2M_OK);
	m2m_state_close(&st);
}

/* ------------------------------------------------------------------------ */
/* what an uninterrupted run gives, scenario by scenario */

struct outcome {
	enum fake_fail fail;
	enum upd_state state;
	int result;
	const char *slot;     /* WORK/slot at the end */
	const char *floor;    /* the floor of pos-firmware at the end */
	unsigned verify, install, health, commit, rollback;
};

static const struct outcome outcomes[] = {
	{ FAKE_OK, UPD_COMMITTED, M2M_OK, "2.4.1", "2.4.1", 1, 1, 1, 1, 0 },
	{ FAKE_VERIFY, UPD_FAILED, M2M_ERR_INTEGRITY, "", "", 1, 0, 0, 0, 0 },
	{ FAKE_INSTALL, UPD_ROLLED_BACK, M2M_ERR_FAILURE, "old", "", 1, 1, 0, 0, 1 },
	{ FAKE_INSTALL_INTEGRITY, UPD_ROLLED_BACK, M2M_ERR_INTEGRITY, "old", "", 1, 1, 0, 0, 1 },
	{ FAKE_HEALTH, UPD_ROLLED_BACK, M2M_ERR_DOWN, "old", "", 1, 1, 1, 0, 1 },
	{ FAKE_FETCH_STORAGE, UPD_FAILED, M2M_ERR_STORAGE, "", "", 0, 0, 0, 0, 0 },
};

static void check_outcome(const struct outcome *o, const struct fake *f,
			  const struct upd_record *last, unsigned extra_op_runs, const char *extra_op)
{
	char buf[64];
	uint64_t bytes;
	enum upd_next next;
	struct upd_record rec;
	struct m2m_err err = { 0 };

	assert_int_equal(last->state, o->state);
	assert_int_equal(last->result, o->result);
	assert_true(last->done);
	assert_string_equal(last->source, SRC);
	if (o->verify && o->fail != FAKE_VERIFY) {
		assert_string_equal(last->name, "pos-firmware");
		assert_string_equal(last->version, "2.4.1");
		assert_int_equal(last->offset, SIZE);
	}
	/* the journal was compacted to the final record, which a status reads */
	assert_int_equal(journal_lines(), 1);
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(upd_journal_recover(&st, &rec, &next, &err), M2M_OK);
	m2m_state_close(&st);
	assert_int_equal(rec.state, o->state);
	assert_int_equal(next, UPD_NEXT_NONE);
	read_work("slot", buf, sizeof(buf));
	assert_string_equal(buf, o->slot);
	floor_of("pos-firmware", buf, sizeof(buf));
	assert_string_equal(buf, o->floor);
	/* each side effect as often as in an uninterrupted run, plus the one step re-run */
#define COUNT(op) (o->op + (extra_op && strcmp(extra_op, #op) == 0 ? extra_op_runs : 0))
	assert_int_equal(fake_count(f, "verify", NULL), COUNT(verify));
	assert_int_equal(fake_count(f, "install", NULL), COUNT(install));
	assert_int_equal(fake_count(f, "health", NULL), COUNT(health));
	assert_int_equal(fake_count(f, "commit", NULL), COUNT(commit));
	assert_int_equal(fake_count(f, "rollback", NULL), COUNT(rollback));
#undef COUNT
	fake_count(f, "fetch", &bytes);
	if (o->fail == FAKE_FETCH_STORAGE)
		assert_int_equal(bytes, CHUNK);
	else
		assert_int_equal(bytes, SIZE + (extra_op && strcmp(extra_op, "fetch") == 0 ? CHUNK : 0));
}

static void test_outcomes(void **state)
{
	for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
		const struct outcome *o = &outcomes[i];
		struct m2m_err err = { 0 };
		struct upd_record last;
		struct fake f;
		int rc;

		reset();
		fake_init(&f, o->fail);
		rc = run_fresh(&f, &last, &err);
		assert_int_equal(rc, o->result);
		if (rc)
			assert_non_null(strstr(err.msg, o->fail == FAKE_HEALTH ? "health:" :
					       o->fail == FAKE_INSTALL ? "install:" :
					       o->fail == FAKE_INSTALL_INTEGRITY ? "install:" :
					       o->fail == FAKE_VERIFY ? "verify:" : "fetch:"));
		check_outcome(o, &f, &last, 0, NULL);
		/* a package not genuine, its signature or its payload in the installer: one event */
		assert_int_equal(m2m_state_events_since(sdir, "update-integrity", 0),
				 o->result == M2M_ERR_INTEGRITY ? 1 : 0);
		if (o->fail == FAKE_OK)
			assert_int_equal(f.writes, WRITES_OK);
	}
}

/* ------------------------------------------------------------------------ */
/* every transition, one at a time */

static enum upd_state seen[32];
static unsigned n_seen;

static void note_state(struct fake *f, const struct upd_record *rec)
{
	if (n_seen < 32)
		seen[n_seen++] = rec->done ? (enum upd_state)(100 + rec->state) : rec->state;
}

static void test_transitions_commit(void **state)
{
	static const enum upd_state want[WRITES_OK] = {
		UPD_DOWNLOADING, UPD_DOWNLOADING, UPD_DOWNLOADING, UPD_DOWNLOADING,
		UPD_DOWNLOADED, UPD_VERIFIED, UPD_INSTALLING, UPD_INSTALLED,
		UPD_INSTALLED, /* checking: the health check's bound runs from here */
		UPD_COMMITTED, (enum upd_state)(100 + UPD_COMMITTED),
	};
	struct m2m_err err = { 0 };
	struct fake f;
	struct upd *u;

	reset();
	fake_init(&f, FAKE_OK);
	f.on_write = note_state;
	n_seen = 0;
	u = open_upd(&f);
	assert_int_equal(upd_last(u)->state, UPD_IDLE);
	assert_int_equal(upd_next(u), UPD_NEXT_NONE);
	/* idle -> downloading */
	assert_int_equal(upd_start(u, SRC, &err), M2M_OK);
	assert_int_equal(upd_last(u)->state, UPD_DOWNLOADING);
	assert_int_equal(upd_last(u)->offset, 0);
	assert_int_equal(upd_next(u), UPD_NEXT_FETCH);
	/* a second start while one is under way */
	assert_int_equal(upd_start(u, SRC, &err), M2M_ERR_BUSY);
	/* downloading -> (checkpoints) -> downloaded */
	assert_int_equal(upd_step(u, &err), M2M_OK);
	assert_int_equal(upd_last(u)->state, UPD_DOWNLOADED);
	assert_int_equal(upd_last(u)->offset, SIZE);
	assert_string_equal(upd_last(u)->etag, "\"e1\"");
	/* downloaded -> verified */
	assert_int_equal(upd_step(u, &err), M2M_OK);
	assert_int_equal(upd_last(u)->state, UPD_VERIFIED);
	assert_string_equal(upd_last(u)->version, "2.4.1");
	assert_int_equal(upd_last(u)->type, UPD_FIRMWARE);
	assert_int_equal(strlen(upd_last(u)->sha256), 64);
	/* verified -> installing -> installed */
	assert_int_equal(upd_step(u, &err), M2M_OK);
	assert_int_equal(upd_last(u)->state, UPD_INSTALLED);
	assert_string_equal(upd_last(u)->slot, "rootfs.1");
	assert_int_equal(upd_next(u), UPD_NEXT_HEALTH);
	/* installed -> committed, and its action */
	assert_int_equal(upd_step(u, &err), M2M_OK);
	assert_int_equal(upd_last(u)->state, UPD_COMMITTED);
	assert_false(upd_last(u)->done);
	assert_int_equal(upd_next(u), UPD_NEXT_FINISH);
	assert_int_equal(fake_count(&f, "commit", NULL), 0); /* written before acted on */
	assert_int_equal(upd_step(u, &err), M2M_OK);
	assert_true(upd_last(u)->done);
	assert_int_equal(fake_count(&f, "commit", NULL), 1);
	assert_int_equal(upd_next(u), UPD_NEXT_NONE);
	assert_int_equal(upd_step(u, &err), M2M_OK); /* nothing left */
	assert_int_equal(n_seen, WRITES_OK);
	for (unsigned i = 0; i < n_seen; i++)
		assert_int_equal(seen[i], want[i]);
	/* a new update after the end: idle again in effect */
	assert_int_equal(upd_start(u, SRC, &err), M2M_OK);
	assert_int_equal(upd_last(u)->state, UPD_DOWNLOADING);
	close_upd(u);
}

static void test_transitions_fetch_resume(void **state)
{
	struct m2m_err err = { 0 };
	struct upd_record last;
	struct fake f;
	uint64_t bytes;

	reset();
	fake_init(&f, FAKE_FETCH_NET);
	/* the server drops: still downloading, from the last checkpoint, the reason kept */
	assert_int_equal(run_fresh(&f, &last, &err), M2M_ERR_UNREACHABLE);
	assert_string_equal(err.msg, "fetch: the connection was reset");
	assert_int_equal(last.state, UPD_DOWNLOADING);
	assert_int_equal(last.offset, 2 * CHUNK);
	assert_int_equal(last.result, M2M_ERR_UNREACHABLE);
	assert_string_equal(last.message, "fetch: the connection was reset");
	/* the next run resumes at the checkpoint: no byte fetched twice */
	assert_int_equal(run_on(&f, &last, &err), M2M_OK);
	assert_int_equal(last.state, UPD_COMMITTED);
	assert_true(last.done);
	fake_count(&f, "fetch", &bytes);
	assert_int_equal(bytes, SIZE);
}

/* hold: a verified package waits for upd_release (LwM2M: Downloaded until Execute Update) */
static void test_hold(void **state)
{
	struct m2m_err err = { 0 };
	struct upd_record last;
	struct upd *u;
	struct fake f;

	reset();
	fake_init(&f, FAKE_OK);
	hold = true;
	assert_int_equal(run_fresh(&f, &last, &err), M2M_OK);
	assert_int_equal(last.state, UPD_VERIFIED);
	/* a restart (recovered) still holds */
	assert_int_equal(run_on(&f, &last, &err), M2M_OK);
	assert_int_equal(last.state, UPD_VERIFIED);
	u = open_upd(&f);
	assert_int_equal(upd_release(u, &err), M2M_OK);
	assert_int_equal(upd_last(u)->state, UPD_COMMITTED);
	assert_true(upd_last(u)->done);
	/* nothing verified waits now */
	assert_int_equal(upd_release(u, &err), M2M_ERR_USAGE);
	close_upd(u);
	hold = false;
}

/* cancel (the LwM2M server's empty Package URI): back to idle before an install, never after */
static void test_cancel(void **state)
{
	char ops[4096];
	struct m2m_err err = { 0 };
	struct upd_record last;
	struct upd *u;
	struct fake f;

	/* downloading: idle, the source kept, and a new update is taken, also after a restart */
	reset();
	fake_init(&f, FAKE_OK);
	u = open_upd(&f);
	assert_int_equal(upd_start(u, SRC, &err), M2M_OK);
	assert_int_equal(upd_cancel(u, &err), M2M_OK);
	assert_int_equal(upd_last(u)->state, UPD_IDLE);
	assert_string_equal(upd_last(u)->source, SRC);
	assert_string_equal(upd_last(u)->message, "cancelled");
	assert_int_equal(upd_next(u), UPD_NEXT_NONE);
	close_upd(u);
	u = open_upd(&f);
	assert_int_equal(upd_last(u)->state, UPD_IDLE);
	assert_int_equal(upd_start(u, SRC, &err), M2M_OK);
	close_upd(u);
	/* verified and held (LwM2M's Downloaded): cancelled, nothing installed */
	reset();
	fake_init(&f, FAKE_OK);
	hold = true;
	assert_int_equal(run_fresh(&f, &last, &err), M2M_OK);
	assert_int_equal(last.state, UPD_VERIFIED);
	u = open_upd(&f);
	assert_int_equal(upd_cancel(u, &err), M2M_OK);
	assert_int_equal(upd_release(u, &err), M2M_ERR_USAGE);
	close_upd(u);
	hold = false;
	assert_int_equal(run_on(&f, &last, &err), M2M_OK);
	assert_int_equal(last.state, UPD_IDLE);
	read_work("ops.log", ops, sizeof(ops));
	assert_null(strstr(ops, "install"));
	/* installed (the health check pending) and committed: too late, nothing written */
	reset();
	fake_init(&f, FAKE_HEALTH_BUSY);
	assert_int_equal(run_fresh(&f, &last, &err), M2M_OK);
	assert_int_equal(last.state, UPD_INSTALLED);
	u = open_upd(&f);
	assert_int_equal(upd_cancel(u, &err), M2M_ERR_USAGE);
	assert_int_equal(upd_last(u)->state, UPD_INSTALLED);
	close_upd(u);
	reset();
	fake_init(&f, FAKE_OK);
	assert_int_equal(run_fresh(&f, &last, &err), M2M_OK);
	assert_int_equal(last.state, UPD_COMMITTED);
	u = open_upd(&f);
	assert_int_equal(upd_cancel(u, &err), M2M_ERR_USAGE);
	assert_int_equal(upd_last(u)->state, UPD_COMMITTED);
	close_upd(u);
}

static void test_transitions_health(void **state)
{
	struct m2m_err err = { 0 };
	struct upd_record last;
	struct fake f;

	/* not decided: waits (installed) until the bound, then rolls back with TIMEOUT */
	reset();
	fake_init(&f, FAKE_HEALTH_BUSY);
	assert_int_equal(run_fresh(&f, &last, &err), M2M_OK);
	assert_int_equal(last.state, UPD_INSTALLED);
	f.clock += 59;
	assert_int_equal(run_on(&f, &last, &err), M2M_OK);
	assert_int_equal(last.state, UPD_INSTALLED);
	f.clock += 1;
	assert_int_equal(run_on(&f, &last, &err), M2M_ERR_TIMEOUT);
	assert_string_equal(err.msg, "health: not proven healthy within 60 s");
	assert_int_equal(last.state, UPD_ROLLED_BACK);
	assert_true(last.done);
	assert_int_equal(fake_count(&f, "health", NULL), 3);
	assert_int_equal(fake_count(&f, "rollback", NULL), 1);
	assert_int_equal(fake_count(&f, "commit", NULL), 0);
	/* the install had finished: the rollback is told to undo it */
	assert_true(last.installed);

	/* an install that failed did not finish: the rollback knows it (RAUC: the untouched
	   slot is left good) */
	reset();
	fake_init(&f, FAKE_INSTALL);
	assert_int_equal(run_fresh(&f, &last, &err), M2M_ERR_FAILURE);
	assert_int_equal(last.state, UPD_ROLLED_BACK);
	assert_false(last.installed);
}

static void test_transitions_decide(void **state)
{
	struct m2m_err err = { 0 };
	struct upd_record last;
	char v[64];
	struct fake f;
	struct upd *u;

	for (int good = 0; good < 2; good++) {
		reset();
		fake_init(&f, FAKE_HEALTH_BUSY);
		u = open_upd(&f);
		assert_int_equal(upd_decide(u, true, &err), M2M_ERR_USAGE); /* idle */
		close_upd(u);
		assert_int_equal(run_fresh(&f, &last, &err), M2M_OK);
		assert_int_equal(last.state, UPD_INSTALLED);
		u = open_upd(&f);
		assert_int_equal(upd_decide(u, good, &err), M2M_OK);
		assert_int_equal(upd_last(u)->state, good ? UPD_COMMITTED : UPD_ROLLED_BACK);
		assert_int_equal(upd_last(u)->result, good ? M2M_OK : M2M_ERR_FAILURE);
		assert_true(upd_last(u)->done);
		close_upd(u);
		assert_int_equal(fake_count(&f, good ? "commit" : "rollback", NULL), 1);
		floor_of("pos-firmware", v, sizeof(v));
		assert_string_equal(v, good ? "2.4.1" : "");
	}
}

static void test_transitions_commit_retry(void **state)
{
	struct m2m_err err = { 0 };
	struct upd_record last;
	struct fake f;

	/* the commit's action fails: the update stays committed, not done, and is finished later */
	reset();
	fake_init(&f, FAKE_COMMIT_ONCE);
	assert_int_equal(run_fresh(&f, &last, &err), M2M_ERR_DAEMON);
	assert_int_equal(last.state, UPD_COMMITTED);
	assert_false(last.done);
	assert_int_equal(run_on(&f, &last, &err), M2M_OK);
	assert_int_equal(last.state, UPD_COMMITTED);
	assert_true(last.done);
	assert_int_equal(fake_count(&f, "commit", NULL), 2);
	/* nothing is left, and a run with nothing to do is not the old result again */
	assert_int_equal(run_on(&f, &last, &err), M2M_OK);
	assert_int_equal(fake_count(&f, "commit", NULL), 2);
}

static void test_lock(void **state)
{
	struct upd_opts o = { .ops = &fake_ops };
	struct m2m_err err = { 0 };
	struct m2m_state st2;
	struct upd *u, *u2 = NULL;
	struct fake f;

	reset();
	fake_init(&f, FAKE_OK);
	o.ctx = &f;
	u = open_upd(&f);
	assert_int_equal(m2m_state_open(&st2, sdir, &err), M2M_OK);
	assert_int_equal(upd_open(&st2, &o, &u2, &err), M2M_ERR_BUSY);
	assert_null(u2);
	close_upd(u);
	assert_int_equal(upd_open(&st2, &o, &u2, &err), M2M_OK);
	upd_close(u2);
	m2m_state_close(&st2);
}

/* ------------------------------------------------------------------------ */
/* recovery from each state */

static void write_journal(const struct upd_record *recs, size_t n)
{
	struct m2m_journal j;
	struct m2m_err err = { 0 };
	char json[M2M_JOURNAL_RECORD_MAX + 1];

	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(m2m_journal_open(&st, UPD_JOURNAL_NAME, UPD_JOURNAL_MAX, &j, &err), M2M_OK);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(upd_record_json(&recs[i], json, sizeof(json), &err), M2M_OK);
		assert_int_equal(m2m_journal_append(&j, json, strlen(json), &err), M2M_OK);
	}
	m2m_journal_close(&j);
	m2m_state_close(&st);
}

/* WORK/download with the first n bytes of the package */
static void put_download(uint64_t n)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/download", wdir);
	fp = fopen(path, "we");
	assert_non_null(fp);
	for (uint64_t i = 0; i < n; i++)
		fputc(fake_byte(i), fp);
	fclose(fp);
}

static void test_recover_each_state(void **state)
{
	static const struct {
		enum upd_state state;
		bool done;
		enum upd_next next;
		uint64_t fetched;  /* bytes the recovery fetches */
		unsigned verify, install, health, commit, rollback;
		enum upd_state end;
	} cases[] = {
		{ UPD_DOWNLOADING, false, UPD_NEXT_FETCH, SIZE - CHUNK, 1, 1, 1, 1, 0, UPD_COMMITTED },
		{ UPD_DOWNLOADED, false, UPD_NEXT_VERIFY, 0, 1, 1, 1, 1, 0, UPD_COMMITTED },
		{ UPD_VERIFIED, false, UPD_NEXT_INSTALL, 0, 0, 1, 1, 1, 0, UPD_COMMITTED },
		{ UPD_INSTALLING, false, UPD_NEXT_INSTALL, 0, 0, 1, 1, 1, 0, UPD_COMMITTED },
		{ UPD_INSTALLED, false, UPD_NEXT_HEALTH, 0, 0, 0, 1, 1, 0, UPD_COMMITTED },
		{ UPD_COMMITTED, false, UPD_NEXT_FINISH, 0, 0, 0, 0, 1, 0, UPD_COMMITTED },
		{ UPD_ROLLED_BACK, false, UPD_NEXT_FINISH, 0, 0, 0, 0, 0, 1, UPD_ROLLED_BACK },
		{ UPD_FAILED, false, UPD_NEXT_FINISH, 0, 0, 0, 0, 0, 0, UPD_FAILED },
		{ UPD_COMMITTED, true, UPD_NEXT_NONE, 0, 0, 0, 0, 0, 0, UPD_COMMITTED },
		{ UPD_FAILED, true, UPD_NEXT_NONE, 0, 0, 0, 0, 0, 0, UPD_FAILED },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct upd_record recs[2] = { { .state = UPD_DOWNLOADING, .source = SRC } }, last;
		struct m2m_err err = { 0 };
		enum upd_next next;
		struct fake f;
		uint64_t bytes;
		bool verified = cases[i].state >= UPD_VERIFIED;

		reset();
		fake_init(&f, FAKE_OK);
		recs[1] = recs[0];
		recs[1].state = cases[i].state;
		recs[1].done = cases[i].done;
		recs[1].offset = cases[i].state == UPD_DOWNLOADING ? CHUNK : SIZE;
		if (verified) {
			strcpy(recs[1].name, "pos-firmware");
			strcpy(recs[1].version, "2.4.1");
			recs[1].type = UPD_FIRMWARE;
		}
		if (cases[i].state == UPD_FAILED || cases[i].state == UPD_ROLLED_BACK) {
			recs[1].result = M2M_ERR_INTEGRITY;
			strcpy(recs[1].message, "verify: bad");
		}
		write_journal(recs, 2);
		put_download(cases[i].state == UPD_DOWNLOADING ? CHUNK : SIZE);
		assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
		assert_int_equal(upd_journal_recover(&st, &last, &next, &err), M2M_OK);
		m2m_state_close(&st);
		assert_int_equal(last.state, cases[i].state);
		assert_int_equal(next, cases[i].next);
		run_on(&f, &last, &err);
		assert_int_equal(last.state, cases[i].end);
		assert_true(last.done);
		fake_count(&f, "fetch", &bytes);
		assert_int_equal(bytes, cases[i].fetched);
		assert_int_equal(fake_count(&f, "verify", NULL), cases[i].verify);
		assert_int_equal(fake_count(&f, "install", NULL), cases[i].install);
		assert_int_equal(fake_count(&f, "health", NULL), cases[i].health);
		assert_int_equal(fake_count(&f, "commit", NULL), cases[i].commit);
		assert_int_equal(fake_count(&f, "rollback", NULL), cases[i].rollback);
		/* the result of an update that ended is never lost */
		if (cases[i].end != UPD_COMMITTED) {
			assert_int_equal(last.result, M2M_ERR_INTEGRITY);
			assert_string_equal(last.message, "verify: bad");
		}
	}
}

/* ------------------------------------------------------------------------ */
/* a record torn at every byte */

static char *snaps[WRITES_OK + 1];
static size_t snap_len[WRITES_OK + 1];
static struct upd_record snap_rec[WRITES_OK + 1];

static void snapshot(struct fake *f, const struct upd_record *rec)
{
	char path[160];
	FILE *fp;

	if (f->writes > WRITES_OK)
		return;
	snprintf(path, sizeof(path), "%s/%s", sdir, UPD_JOURNAL_NAME);
	fp = fopen(path, "re");
	assert_non_null(fp);
	snaps[f->writes] = malloc(UPD_JOURNAL_MAX);
	snap_len[f->writes] = fread(snaps[f->writes], 1, UPD_JOURNAL_MAX, fp);
	snap_rec[f->writes] = *rec;
	fclose(fp);
}

static void put_journal(const char *data, size_t len)
{
	char path[160];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", sdir, UPD_JOURNAL_NAME);
	fp = fopen(path, "we");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

static void test_torn_every_byte(void **state)
{
	struct m2m_err err = { 0 };
	struct upd_record last;
	struct fake f;
	unsigned cases = 0;

	reset();
	fake_init(&f, FAKE_OK);
	f.on_write = snapshot;
	assert_int_equal(run_fresh(&f, &last, &err), M2M_OK);
	assert_int_equal(f.writes, WRITES_OK);
	snap_len[0] = 0;
	snaps[0] = NULL;
	/* records 1..9 were appended (10 is the compaction): tear the k-th at every byte */
	for (unsigned k = 1; k < WRITES_OK; k++) {
		assert_true(snap_len[k] > snap_len[k - 1]);
		assert_memory_equal(snaps[k], snaps[WRITES_OK - 1], snap_len[k]);
		for (size_t b = snap_len[k - 1]; b < snap_len[k]; b++) {
			struct upd_record rec;
			enum upd_next next;
			struct stat sb;
			char path[160];

			put_journal(snaps[WRITES_OK - 1], b);
			assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
			assert_int_equal(upd_journal_recover(&st, &rec, &next, &err), M2M_OK);
			m2m_state_close(&st);
			/* the torn record is no record: the previous step stands */
			if (k == 1) {
				assert_int_equal(rec.state, UPD_IDLE);
			} else {
				assert_int_equal(rec.state, snap_rec[k - 1].state);
				assert_int_equal(rec.offset, snap_rec[k - 1].offset);
				assert_int_equal(next, upd_next_of(&snap_rec[k - 1]));
			}
			/* opening cuts it; the machine resumes from the previous step to the end */
			fake_init(&f, FAKE_OK);
			if (k == 1) {
				assert_int_equal(run_fresh(&f, &last, &err), M2M_OK);
			} else {
				assert_int_equal(run_on(&f, &last, &err), M2M_OK);
			}
			assert_int_equal(last.state, UPD_COMMITTED);
			assert_true(last.done);
			assert_int_equal(last.offset, SIZE);
			snprintf(path, sizeof(path), "%s/%s", sdir, UPD_JOURNAL_NAME);
			assert_int_equal(stat(path, &sb), 0);
			assert_int_equal(journal_lines(), 1);
			cases++;
		}
	}
	assert_int_equal(cases, snap_len[WRITES_OK - 1]);
	/* damage before whole records is not a power cut: refused, never skipped */
	snaps[WRITES_OK - 1][snap_len[2] + 12] ^= 0x20;
	put_journal(snaps[WRITES_OK - 1], snap_len[WRITES_OK - 1]);
	{
		struct upd_record rec;
		enum upd_next next;

		assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
		assert_int_equal(upd_journal_recover(&st, &rec, &next, &err), M2M_ERR_FAILURE);
		m2m_state_close(&st);
		assert_non_null(strstr(err.msg, "damaged"));
	}
	for (unsigned k = 0; k <= WRITES_OK; k++)
		free(snaps[k]);
}

/* ------------------------------------------------------------------------ */
/* kill -9 right after every journal write, and inside every step */

/* The update run in a child that SIGKILLs itself (kill_write or kill_op); true if it did. */
static bool run_killed(enum fake_fail fail, unsigned kill_write, const char *kill_op)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct m2m_err err = { 0 };
		struct upd_opts o;
		struct fake f;
		struct upd *u;

		fake_init(&f, fail);
		f.kill_write = kill_write;
		f.kill_op = kill_op;
		o = (struct upd_opts){ .ops = &fake_ops, .ctx = &f, .floor = &upd_floor_file_ops,
				       .floor_ctx = &st, .health_timeout_ms = 60000 };
		if (m2m_state_open(&st, sdir, &err) || upd_open(&st, &o, &u, &err) ||
		    upd_start(u, SRC, &err))
			_exit(100);
		upd_run(u, &err);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status)) {
		assert_int_equal(WTERMSIG(status), SIGKILL);
		return true;
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return false;
}

static void test_kill_every_write(void **state)
{
	for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
		const struct outcome *o = &outcomes[i];
		struct m2m_err err = { 0 };
		struct upd_record last;
		struct fake f;
		unsigned total;

		reset();
		fake_init(&f, o->fail);
		f.on_write = snapshot;
		run_fresh(&f, &last, &err);
		total = f.writes;
		assert_true(total >= 3);
		for (unsigned k = 1; k <= total && k <= WRITES_OK; k++)
			free(snaps[k]);
		for (unsigned n = 1; n <= total; n++) {
			struct upd_record rec;
			enum upd_next next;

			reset();
			assert_true(run_killed(o->fail, n, NULL));
			/* the n-th record was on the disk when the process died: it is what recovery sees */
			assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
			assert_int_equal(upd_journal_recover(&st, &rec, &next, &err), M2M_OK);
			m2m_state_close(&st);
			assert_int_equal(rec.state, snap_rec[n].state);
			assert_int_equal(rec.done, snap_rec[n].done);
			assert_int_equal(rec.offset, snap_rec[n].offset);
			fake_init(&f, o->fail);
			/* after the last write (the compaction) nothing is left to run: OK */
			assert_int_equal(run_on(&f, &last, &err), n == total ? M2M_OK : o->result);
			check_outcome(o, &f, &last, 0, NULL);
		}
		/* one past the last write: the child ends by itself */
		reset();
		assert_false(run_killed(o->fail, total + 1, NULL));
	}
}

static void test_kill_inside_steps(void **state)
{
	static const struct {
		enum fake_fail fail;
		const char *op;
	} cases[] = {
		{ FAKE_OK, "fetch" }, { FAKE_OK, "verify" }, { FAKE_OK, "install" },
		{ FAKE_OK, "health" }, { FAKE_OK, "commit" }, { FAKE_HEALTH, "rollback" },
		{ FAKE_INSTALL, "install" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct outcome *o = NULL;
		struct m2m_err err = { 0 };
		struct upd_record last;
		struct fake f;

		for (size_t k = 0; k < sizeof(outcomes) / sizeof(outcomes[0]); k++)
			if (outcomes[k].fail == cases[i].fail)
				o = &outcomes[k];
		reset();
		assert_true(run_killed(cases[i].fail, 0, cases[i].op));
		fake_init(&f, cases[i].fail);
		assert_int_equal(run_on(&f, &last, &err), o->result);
		/* only the step under way ran again, and again to the same effect */
		check_outcome(o, &f, &last, 1, cases[i].op);
	}
}

/* ------------------------------------------------------------------------ */
/* the journal's bound */

static void test_bounded(void **state)
{
	struct upd_opts o = { .ops = &fake_ops, .journal_max = 4096 };
	struct m2m_err err = { 0 };
	struct upd *u;
	struct fake f;
	char path[160];
	struct stat sb;
	unsigned max_lines = 0;

	reset();
	fake_init(&f, FAKE_OK);
	f.size = 300 * 64;   /* 300 checkpoints: far more records than 4 KiB hold */
	f.chunk = 64;
	o.ctx = &f;
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(upd_open(&st, &o, &u, &err), M2M_OK);
	assert_int_equal(upd_start(u, SRC, &err), M2M_OK);
	snprintf(path, sizeof(path), "%s/%s", sdir, UPD_JOURNAL_NAME);
	while (upd_next(u) != UPD_NEXT_NONE) {
		assert_int_equal(upd_step(u, &err), M2M_OK);
		assert_int_equal(stat(path, &sb), 0);
		assert_true(sb.st_size <= 4096);
		if (journal_lines() > max_lines)
			max_lines = journal_lines();
	}
	assert_int_equal(upd_last(u)->state, UPD_COMMITTED);
	assert_int_equal(upd_last(u)->offset, 300 * 64);
	upd_close(u);
	m2m_state_close(&st);
	assert_true(max_lines > 1);
	assert_int_equal(journal_lines(), 1);
}

/* ------------------------------------------------------------------------ */
/* the record */

static void test_record_json(void **state)
{
	struct upd_record r = { .state = UPD_INSTALLED, .type = UPD_CONFIG, .offset = 1ull << 40,
				.result = M2M_ERR_STORAGE, .time = 1767225600, .done = true,
				.installed = true }, back;
	struct m2m_err err = { 0 };
	char json[M2M_JOURNAL_RECORD_MAX + 1];

	strcpy(r.name, "site-config");
	strcpy(r.version, "7");
	strcpy(r.source, "coaps://[fd00::1]:5684/fw?x=\"1\"\\/");
	strcpy(r.etag, "W/\"abc\"");
	strcpy(r.sha256, "00ff");
	strcpy(r.slot, "rootfs.1");
	strcpy(r.message, "fetch: disk full\ttab");
	assert_int_equal(upd_record_json(&r, json, sizeof(json), &err), M2M_OK);
	assert_null(strchr(json, '\n'));
	assert_int_equal(upd_record_parse(json, strlen(json), &back, &err), M2M_OK);
	assert_memory_equal(&r, &back, sizeof(r));
	/* the installer's process */
	r.state = UPD_INSTALLING;
	r.proc.pgid = 31337;
	r.proc.start = 1ull << 40;
	r.proc.limit_ms = 4000000000u;
	strcpy(r.proc.boot, "6c0e1a52-53a5-4b8e-9f55-2f3f6a1b2c3d");
	assert_int_equal(upd_record_json(&r, json, sizeof(json), &err), M2M_OK);
	assert_int_equal(upd_record_parse(json, strlen(json), &back, &err), M2M_OK);
	assert_memory_equal(&r, &back, sizeof(r));
	/* ... the client that handed the install to RAUC's service */
	strcpy(r.proc.service, "rauc");
	assert_int_equal(upd_record_json(&r, json, sizeof(json), &err), M2M_OK);
	assert_non_null(strstr(json, "\"service\":\"rauc\""));
	assert_int_equal(upd_record_parse(json, strlen(json), &back, &err), M2M_OK);
	assert_memory_equal(&r, &back, sizeof(r));
	/* empty fields are left out */
	memset(&r, 0, sizeof(r));
	assert_int_equal(upd_record_json(&r, json, sizeof(json), &err), M2M_OK);
	assert_string_equal(json, "{\"state\":\"idle\",\"result\":0,\"time\":0}");
	/* a newer version's keys are ignored; what this one knows is checked */
	{
		static const char newer[] = "{\"state\":\"failed\",\"later\":[1],\"result\":18}";

		assert_int_equal(upd_record_parse(newer, strlen(newer), &back, &err), M2M_OK);
	}
	assert_int_equal(back.state, UPD_FAILED);
	assert_int_equal(back.result, M2M_ERR_REFUSED);
	static const char *const bad[] = {
		"", "[]", "{}", "{\"state\":\"sleeping\"}", "{\"state\":1}",
		"{\"state\":\"idle\",\"offset\":-1}", "{\"state\":\"idle\",\"result\":99}",
		"{\"state\":\"idle\",\"type\":\"os\"}", "{\"state\":\"idle\"} x",
		"{\"state\":\"idle\",\"done\":1}", "{\"state\":\"idle\",\"installed\":\"yes\"}",
		"{\"state\":\"installing\",\"proc\":1}",
		"{\"state\":\"installing\",\"proc\":{\"start\":1}}",
		"{\"state\":\"installing\",\"proc\":{\"pgid\":1}}",
		"{\"state\":\"installing\",\"proc\":{\"pgid\":9,\"limit\":-1}}",
		"{\"state\":\"installing\",\"proc\":{\"pgid\":9,\"service\":1}}",
		"{\"state\":\"installing\",\"proc\":{\"pgid\":9,\"service\":\"0123456789abcdef\"}}", "{\"state\":\"idle\",\"slot\":\"0123456789012345678901234567890123\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(upd_record_parse(bad[i], strlen(bad[i]), &back, &err), M2M_ERR_FAILURE);
	assert_string_equal(upd_state_name(UPD_ROLLED_BACK), "rolled-back");
	assert_string_equal(upd_next_name(UPD_NEXT_HEALTH), "health");
}

/* ------------------------------------------------------------------------ */
/* the installer's process: recorded before it runs, kept while installing */

static struct upd *busy_u;      /* the journal the install below records into */
static int busy_seen;           /* the pgid the install found in its record */

static int busy_install(void *ctx, struct upd_record *rec, struct m2m_err *err)
{
	struct upd_proc p = { .pgid = 4242, .start = 77, .limit_ms = 600000 };
	int rc;

	busy_seen = rec->proc.pgid;
	if (busy_seen)      /* the earlier one ended: installed this time */
		return fake_install(ctx, rec, err);
	strcpy(p.boot, "0b1d0000-0000-4000-8000-000000000000");
	rc = upd_installing(busy_u, &p, err);
	if (rc)
		return rc;
	return m2m_err_set(err, M2M_ERR_BUSY, "the installer an earlier run started still runs");
}

static void test_installer_recorded(void **state)
{
	struct upd_ops ops = fake_ops;
	struct upd_opts o = { .ops = &ops, .floor = &upd_floor_file_ops, .floor_ctx = &st,
			      .health_timeout_ms = 60000 };
	struct m2m_err err = { 0 };
	struct upd_record last;
	enum upd_next next;
	struct fake f;

	(void)state;
	reset();
	fake_init(&f, FAKE_OK);
	ops.install = busy_install;
	o.ctx = &f;
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(upd_open(&st, &o, &busy_u, &err), M2M_OK);
	/* not while anything but installing */
	{
		struct upd_proc p = { .pgid = 9 };

		assert_int_equal(upd_installing(busy_u, &p, &err), M2M_ERR_FAILURE);
	}
	assert_int_equal(upd_start(busy_u, SRC, &err), M2M_OK);
	/* BUSY: left installing, its group on the disk, nothing rolled back */
	assert_int_equal(upd_run(busy_u, &err), M2M_ERR_BUSY);
	close_upd(busy_u);
	assert_int_equal(busy_seen, 0);
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(upd_journal_recover(&st, &last, &next, &err), M2M_OK);
	m2m_state_close(&st);
	assert_int_equal(last.state, UPD_INSTALLING);
	assert_int_equal(next, UPD_NEXT_INSTALL);
	assert_int_equal(last.proc.pgid, 4242);
	assert_int_equal(last.proc.start, 77);
	assert_int_equal(last.proc.limit_ms, 600000);
	assert_string_equal(last.proc.boot, "0b1d0000-0000-4000-8000-000000000000");
	assert_int_equal(fake_count(&f, "rollback", NULL), 0);
	/* the next run finds it in the record; once installed, it is forgotten */
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(upd_open(&st, &o, &busy_u, &err), M2M_OK);
	assert_int_equal(upd_run(busy_u, &err), M2M_OK);
	last = *upd_last(busy_u);
	close_upd(busy_u);
	assert_int_equal(busy_seen, 4242);
	assert_int_equal(last.state, UPD_COMMITTED);
	assert_int_equal(last.proc.pgid, 0);
}

/* ------------------------------------------------------------------------ */
/* a failure for good discards the package first: the failed record needs its room */

static enum upd_state last_written; /* the state of the last record on the disk */
static enum upd_state discarded_at[4];
static unsigned n_discarded;

static void note_last(struct fake *f, const struct upd_record *rec)
{
	(void)f;
	last_written = rec->state;
}

static void fake_discard(void *ctx, const struct upd_record *rec)
{
	(void)ctx;
	(void)rec;
	if (n_discarded < 4)
		discarded_at[n_discarded] = last_written;
	n_discarded++;
}

static void test_discard(void **state)
{
	static const struct {
		enum fake_fail fail;
		int result;
		unsigned discards;
		enum upd_state before; /* the last record when the package was discarded */
	} cases[] = {
		{ FAKE_FETCH_STORAGE, M2M_ERR_STORAGE, 1, UPD_DOWNLOADING },
		{ FAKE_VERIFY, M2M_ERR_INTEGRITY, 1, UPD_DOWNLOADED },
		/* resumed: the part stays for the Range of the next try */
		{ FAKE_FETCH_NET, M2M_ERR_UNREACHABLE, 0, 0 },
		{ FAKE_OK, M2M_OK, 0, 0 },
	};
	struct upd_ops ops = fake_ops;
	struct upd_opts o = { .ops = &ops, .floor = &upd_floor_file_ops, .floor_ctx = &st,
			      .health_timeout_ms = 60000 };

	(void)state;
	ops.discard = fake_discard;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct m2m_err err = { 0 };
		struct upd *u = NULL;
		struct fake f;
		int rc;

		reset();
		fake_init(&f, cases[i].fail);
		f.on_write = note_last;
		o.ctx = &f;
		n_discarded = 0;
		assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
		assert_int_equal(upd_open(&st, &o, &u, &err), M2M_OK);
		rc = upd_start(u, SRC, &err);
		if (!rc)
			rc = upd_run(u, &err);
		assert_int_equal(rc, cases[i].result);
		assert_int_equal(n_discarded, cases[i].discards);
		if (cases[i].discards) {
			assert_int_equal(discarded_at[0], cases[i].before);
			assert_int_equal(upd_last(u)->state, UPD_FAILED);
			assert_true(upd_last(u)->done);
		}
		close_upd(u);
	}
}

/* ------------------------------------------------------------------------ */
/* the floor */

static void test_floor(void **state)
{
	struct m2m_err err = { 0 };
	char v[64], path[160];
	static const struct {
		const char *raise, *want;
	} steps[] = {
		{ "2.4.1", "2.4.1" }, { "2.0", "2.4.1" }, { "2.4.1.0", "2.4.1" }, { "2.4.0.9", "2.4.1" },
		{ "2.10", "2.10" }, { "10.0", "10.0" }, { "9.999999999", "10.0" }, { "10.0.0.1", "10.0.0.1" },
	};

	reset();
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(upd_floor_file_ops.get(&st, "pos-firmware", v, sizeof(v), &err), M2M_OK);
	assert_string_equal(v, "");
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		assert_int_equal(upd_floor_file_ops.raise(&st, "pos-firmware", steps[i].raise, &err), M2M_OK);
		assert_int_equal(upd_floor_file_ops.get(&st, "pos-firmware", v, sizeof(v), &err), M2M_OK);
		assert_string_equal(v, steps[i].want);
	}
	/* per package name */
	assert_int_equal(upd_floor_file_ops.raise(&st, "modem", "1.0", &err), M2M_OK);
	assert_int_equal(upd_floor_file_ops.get(&st, "modem", v, sizeof(v), &err), M2M_OK);
	assert_string_equal(v, "1.0");
	assert_int_equal(upd_floor_file_ops.get(&st, "pos-firmware", v, sizeof(v), &err), M2M_OK);
	assert_string_equal(v, "10.0.0.1");
	/* what is not a version or a name is refused, the floor untouched */
	assert_int_equal(upd_floor_file_ops.raise(&st, "modem", "v2", &err), M2M_ERR_FAILURE);
	assert_int_equal(upd_floor_file_ops.raise(&st, "modem", "1.2.3.4.5", &err), M2M_ERR_FAILURE);
	assert_int_equal(upd_floor_file_ops.raise(&st, "modem", "1..2", &err), M2M_ERR_FAILURE);
	assert_int_equal(upd_floor_file_ops.raise(&st, "modem", "1234567890", &err), M2M_ERR_FAILURE);
	assert_int_equal(upd_floor_file_ops.raise(&st, "../x", "9", &err), M2M_ERR_FAILURE);
	assert_int_equal(upd_floor_file_ops.get(&st, "modem", v, sizeof(v), &err), M2M_OK);
	assert_string_equal(v, "1.0");
	/* a damaged floor is an error every time, never "no floor" */
	snprintf(path, sizeof(path), "%s/%s", sdir, UPD_FLOOR_NAME);
	{
		FILE *fp = fopen(path, "we");

		assert_non_null(fp);
		fputs("{\"modem\":\"1.0\",\"pos-firmware\":3}", fp);
		fclose(fp);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(upd_floor_file_ops.get(&st, "modem", v, sizeof(v), &err), M2M_ERR_STORAGE);
		assert_int_equal(upd_floor_file_ops.raise(&st, "modem", "0.1", &err), M2M_ERR_STORAGE);
	}
	m2m_state_close(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_json),
		cmocka_unit_test_setup_teardown(test_outcomes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transitions_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transitions_fetch_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transitions_health, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transitions_decide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transitions_commit_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_each_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_every_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_every_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_inside_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_installer_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_floor, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

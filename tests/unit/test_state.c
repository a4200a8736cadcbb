/* The state module: directory checks, locks, atomic files, validated reads, journals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "state/state.h"

static char dir[64];
static char sdir[96];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/m2m-test-state.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sdir, sizeof(sdir), "%s/a/state", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *name, const void *data, size_t len)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static bool exists(const char *name)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	return access(path, F_OK) == 0;
}

static void test_open_dir(void **state)
{
	struct m2m_state st;
	struct m2m_err err;
	struct stat sb;

	(void)state;
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(stat(sdir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	m2m_state_close(&st);
	/* a directory others may write to steers us no more */
	assert_int_equal(chmod(sdir, 0777), 0);
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "writable by no one else"));
	assert_int_equal(st.dirfd, -1);
	assert_int_equal(chmod(sdir, 0700), 0);
	/* a file where the directory should be */
	put("file", "x", 1);
	{
		char p[160];

		snprintf(p, sizeof(p), "%s/file", sdir);
		assert_int_not_equal(m2m_state_open(&st, p, &err), M2M_OK);
	}
}

/* A reader (a status) creates nothing, and is told when there is no state yet. */
static void test_open_existing(void **state)
{
	struct m2m_state st;
	struct m2m_err err;

	(void)state;
	assert_int_equal(m2m_state_open_existing(&st, sdir, &err), M2M_ERR_NOT_FOUND);
	assert_int_equal(st.dirfd, -1);
	assert_int_equal(access(sdir, F_OK), -1);
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_false(m2m_state_exists(&st, "marker"));
	assert_int_equal(m2m_state_write(&st, "marker", "", 0, &err), M2M_OK);
	assert_true(m2m_state_exists(&st, "marker"));
	assert_false(m2m_state_exists(&st, "../marker"));
	m2m_state_close(&st);
	assert_int_equal(m2m_state_open_existing(&st, sdir, &err), M2M_OK);
	assert_true(m2m_state_exists(&st, "marker"));
	m2m_state_close(&st);
	/* the same checks as for a writer */
	assert_int_equal(chmod(sdir, 0770), 0);
	assert_int_equal(m2m_state_open_existing(&st, sdir, &err), M2M_ERR_CONFIG);
	assert_int_equal(chmod(sdir, 0700), 0);
}

static int check_json_like(const char *buf, size_t len, void *ctx, struct m2m_err *err)
{
	(void)ctx;
	if (len < 2 || buf[0] != '{' || buf[len - 1] != '}')
		return m2m_err_set(err, M2M_ERR_FAILURE, "not an object");
	return M2M_OK;
}

static void test_write_read(void **state)
{
	struct m2m_state st;
	struct m2m_err err;
	char *buf;
	size_t len;
	struct stat sb;
	char path[160];

	(void)state;
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(m2m_state_read(&st, "reg", 100, check_json_like, NULL, &buf, &len, &err),
			 M2M_ERR_NOT_FOUND);
	assert_null(buf);
	assert_int_equal(m2m_state_write(&st, "reg", "{\"a\":1}", 7, &err), M2M_OK);
	snprintf(path, sizeof(path), "%s/reg", sdir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* a temporary file left by a run that died does not matter to the reader */
	put("reg.tmp.1", "{\"a\":", 5);
	assert_int_equal(m2m_state_read(&st, "reg", 100, check_json_like, NULL, &buf, &len, &err),
			 M2M_OK);
	assert_int_equal(len, 7);
	assert_string_equal(buf, "{\"a\":1}");
	free(buf);
	/* replaced whole */
	assert_int_equal(m2m_state_write(&st, "reg", "{}", 2, &err), M2M_OK);
	assert_int_equal(m2m_state_read(&st, "reg", 100, NULL, NULL, &buf, &len, &err), M2M_OK);
	assert_string_equal(buf, "{}");
	free(buf);
	/* damaged: set aside, and the next run starts clean */
	put("reg", "{\"a\"", 4);
	assert_int_equal(m2m_state_read(&st, "reg", 100, check_json_like, NULL, &buf, &len, &err),
			 M2M_ERR_FAILURE);
	assert_non_null(strstr(err.msg, "damaged (moved to reg.bad)"));
	assert_non_null(strstr(err.msg, "not an object"));
	assert_false(exists("reg"));
	assert_true(exists("reg.bad"));
	assert_int_equal(m2m_state_read(&st, "reg", 100, check_json_like, NULL, &buf, &len, &err),
			 M2M_ERR_NOT_FOUND);
	/* larger than the reader's bound: never read, set aside */
	{
		char big[300];

		memset(big, 'x', sizeof(big));
		put("big", big, sizeof(big));
		assert_int_equal(m2m_state_read(&st, "big", 100, NULL, NULL, &buf, &len, &err),
				 M2M_ERR_FAILURE);
		assert_true(exists("big.bad"));
	}
	/* names are plain file names */
	assert_int_equal(m2m_state_write(&st, "../x", "1", 1, &err), M2M_ERR_FAILURE);
	assert_int_equal(m2m_state_write(&st, "", "1", 1, &err), M2M_ERR_FAILURE);
	assert_int_equal(m2m_state_remove(&st, "reg.bad", &err), M2M_OK);
	assert_false(exists("reg.bad"));
	assert_int_equal(m2m_state_remove(&st, "reg.bad", &err), M2M_OK);
	m2m_state_close(&st);
}

/* A writer killed at any moment leaves the old content or the new, never a mix. */
static void test_write_killed(void **state)
{
	static char a[65536], b[65536];
	struct m2m_state st;
	struct m2m_err err;

	(void)state;
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(m2m_state_write(&st, "f", a, sizeof(a), &err), M2M_OK);
	for (int round = 0; round < 20; round++) {
		pid_t pid = fork();
		char *buf;
		size_t len;
		int status;

		assert_true(pid >= 0);
		if (pid == 0) {
			for (int i = 0;; i++)
				m2m_state_write(&st, "f", i & 1 ? a : b, sizeof(a), NULL);
		}
		usleep(1000 + (useconds_t)(round * 1500));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		if (m2m_state_read(&st, "f", sizeof(a), NULL, NULL, &buf, &len, &err))
			fail_msg("%s", err.msg);
		assert_int_equal(len, sizeof(a));
		assert_true(!memcmp(buf, a, len) || !memcmp(buf, b, len));
		free(buf);
	}
	m2m_state_close(&st);
}

/* Two threads of one process keep one record (watch's helper and main loop do). */
struct writer {
	struct m2m_state *st;
	char c;
	int failed;
	char msg[512];
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	char data[512];
	struct m2m_err err;

	memset(data, w->c, sizeof(data));
	for (int i = 0; i < 300; i++) {
		if (m2m_state_write(w->st, "shared", data, sizeof(data), &err) != M2M_OK) {
			if (!w->failed++)
				snprintf(w->msg, sizeof(w->msg), "%s", err.msg);
		}
	}
	return NULL;
}

static void test_write_threads(void **state)
{
	struct m2m_state st;
	struct m2m_err err;
	struct writer w[2] = { { &st, 'a', 0, "" }, { &st, 'b', 0, "" } };
	pthread_t t[2];
	char *buf;
	size_t len;

	(void)state;
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer_run, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++)
		if (w[i].failed)
			fail_msg("%d of 300 writes failed: %s", w[i].failed, w[i].msg);
	assert_int_equal(m2m_state_read(&st, "shared", 1024, NULL, NULL, &buf, &len, &err), M2M_OK);
	assert_int_equal(len, 512);
	assert_true(buf[0] == 'a' || buf[0] == 'b');
	for (size_t i = 1; i < len; i++)
		assert_int_equal(buf[i], buf[0]);
	free(buf);
	m2m_state_close(&st);
}

/* Security events: counted by kind and time; a long file keeps its newest half. */
static void test_events(void **state)
{
	struct stat sb;
	char path[256];
	int64_t now = (int64_t)time(NULL) * 1000;

	(void)state;
	assert_int_equal(m2m_state_events_since(sdir, "vpn-auth", 0), 0); /* no file */
	assert_int_equal(m2m_state_event(sdir, "vpn-auth", NULL), M2M_OK);
	assert_int_equal(m2m_state_event(sdir, "vpn-auth", NULL), M2M_OK);
	assert_int_equal(m2m_state_event(sdir, "pin", NULL), M2M_OK);
	assert_int_equal(m2m_state_events_since(sdir, "vpn-auth", now - 5000), 2);
	assert_int_equal(m2m_state_events_since(sdir, "pin", now - 5000), 1);
	assert_int_equal(m2m_state_events_since(sdir, "vpn", now - 5000), 0);  /* the whole kind */
	assert_int_equal(m2m_state_events_since(sdir, "vpn-auth", now + 60000), 0);
	assert_int_equal(m2m_state_event(sdir, "bad kind", NULL), M2M_ERR_USAGE);
	snprintf(path, sizeof(path), "%s/%s", sdir, M2M_EVENTS_NAME);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* a torn last line (a power cut in the write) is not counted, and the next event is a line */
	put(M2M_EVENTS_NAME, "1 pin\n2 pin", 11);
	assert_int_equal(m2m_state_events_since(sdir, "pin", 0), 1);
	assert_int_equal(m2m_state_event(sdir, "pin", NULL), M2M_OK);
	/* "2 pin" ended by the next write: a whole record after all; the new event its own line */
	assert_int_equal(m2m_state_events_since(sdir, "pin", 0), 3);
	/* a time ahead of the clock (a clock set back since) is not believed */
	put(M2M_EVENTS_NAME, "99999999999.000 pin\n", 20);
	assert_int_equal(m2m_state_events_since(sdir, "pin", 0), 0);
	assert_int_equal(m2m_state_events_newest(sdir), 0);
	/* the newest time of any kind, also one ahead by less than a minute (a release's time) */
	{
		char lines[96];
		int n = snprintf(lines, sizeof(lines), "%lld.000 pin\n%lld.500 vpn-auth\n%lld.000 pin\n",
				 (long long)(now / 1000 - 10), (long long)(now / 1000 + 30),
				 (long long)(now / 1000 - 5));

		put(M2M_EVENTS_NAME, lines, (size_t)n);
		assert_true(m2m_state_events_newest(sdir) == (now / 1000 + 30) * 1000 + 500);
		put(M2M_EVENTS_NAME, "99999999999.000 pin\n", 20); /* as it was */
	}
	/* the lock held by another: BUSY after its wait, and no descriptor of ours touched */
	{
		char other[256];
		struct m2m_err err;
		int lk, fd;

		snprintf(other, sizeof(other), "%s/../other", sdir);
		fd = open(other, O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_true(dup2(fd, 11) == 11);
		lk = open(path, O_RDWR);
		assert_true(lk >= 0 && flock(lk, LOCK_EX) == 0);
		assert_int_equal(m2m_state_event(sdir, "pin", &err), M2M_ERR_BUSY);
		assert_true(fcntl(11, F_GETFD) >= 0);      /* still open */
		assert_int_equal(lseek(11, 0, SEEK_END), 0); /* nothing written into it */
		close(lk);
		close(11);
		close(fd);
	}
	/*
	 * A flood of one kind, appended: the file stays within its 192 KiB, the
	 * flood's newest 1000 are kept, and the two events of another kind
	 * before it are not pushed out.
	 */
	assert_int_equal(m2m_state_event(sdir, "vpn-auth", NULL), M2M_OK);
	assert_int_equal(m2m_state_event(sdir, "vpn-auth", NULL), M2M_OK);
	for (int i = 0; i < 7000; i++)
		assert_int_equal(m2m_state_event(sdir, i < 6999 ? "update-integrity" : "pin", NULL),
				 M2M_OK);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size <= 192 * 1024);
	assert_true(sb.st_size < 7000 * 32); /* compacted */
	assert_int_equal(m2m_state_events_since(sdir, "vpn-auth", now - 5000), 2);
	assert_true(m2m_state_events_since(sdir, "update-integrity", 0) >= 1000);
	assert_int_equal(m2m_state_events_since(sdir, "pin", now - 5000), 1);
}

/*
 * Compaction by kind: of each kind its newest 1000 events (M2M_EVENTS_KIND_KEEP),
 * for the four kinds with the newest events; lines that are no event go.
 */
static void test_events_fair(void **state)
{
	const size_t max = 192 * 1024; /* the file's bound (state.h) */
	int64_t now = (int64_t)time(NULL);
	char *buf = malloc(max + 256), *got = NULL, path[256];
	struct m2m_state st;
	struct stat sb;
	size_t len = 0, glen = 0;
	unsigned pins = 0;

	(void)state;
	assert_non_null(buf);
	assert_int_equal(m2m_state_open(&st, sdir, NULL), M2M_OK);
	len += (size_t)sprintf(buf + len, "%lld.000 old-kind\n", (long long)now - 120);
	len += (size_t)sprintf(buf + len, "%lld.000 k1\n", (long long)now - 90);
	for (int i = 0; i < 3; i++)
		len += (size_t)sprintf(buf + len, "%lld.%03d vpn-auth\n", (long long)now - 60, i);
	len += (size_t)sprintf(buf + len, "%lld.000 k2\n", (long long)now - 50);
	len += (size_t)sprintf(buf + len, "not an event\n");
	len += (size_t)sprintf(buf + len, "%lld.000 %0100d\n", (long long)now - 40, 7); /* too long */
	/* pins up to the bound, so that the next one compacts */
	while (len + 19 <= max) {
		len += (size_t)sprintf(buf + len, "%lld.%03u pin\n", (long long)now - 30, pins % 1000);
		pins++;
	}
	put(M2M_EVENTS_NAME, buf, len);
	/* a reader sees all of a file within the bound, its oldest lines too */
	assert_int_equal(m2m_state_events_since(sdir, "vpn-auth", 0), 3);
	assert_int_equal(m2m_state_events_since(sdir, "pin", 0), pins);
	assert_int_equal(m2m_state_event(sdir, "pin", NULL), M2M_OK);
	snprintf(path, sizeof(path), "%s/%s", sdir, M2M_EVENTS_NAME);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size < 64 * 1024);
	assert_int_equal(m2m_state_events_since(sdir, "pin", 0), M2M_EVENTS_KIND_KEEP);
	assert_int_equal(m2m_state_events_since(sdir, "pin", now * 1000), 1); /* the new one */
	assert_int_equal(m2m_state_events_since(sdir, "vpn-auth", 0), 3);
	assert_int_equal(m2m_state_events_since(sdir, "k1", 0), 1);
	assert_int_equal(m2m_state_events_since(sdir, "k2", 0), 1);
	assert_int_equal(m2m_state_events_since(sdir, "old-kind", 0), 0); /* a fifth kind, the oldest */
	assert_int_equal(m2m_state_read(&st, M2M_EVENTS_NAME, max, NULL, NULL, &got, &glen, NULL),
			 M2M_OK);
	assert_null(memmem(got, glen, "not an event", 12));
	assert_null(memmem(got, glen, "0000000007", 10));
	/* in the order they came: the first kept line is k1's, the last the new pin */
	assert_true(glen > 0 && got[glen - 1] == '\n');
	assert_non_null(strstr(got, " k1\n"));
	assert_true(strstr(got, " k1\n") < strstr(got, " vpn-auth\n"));
	assert_true(strstr(got, " k2\n") < strstr(got, " pin\n"));
	free(got);
	free(buf);
	m2m_state_close(&st);
}

static void test_lock(void **state)
{
	struct m2m_state st;
	struct m2m_err err;
	int fd, fd2;

	(void)state;
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(m2m_state_lock(&st, "lock", 0, &fd, &err), M2M_OK);
	/* a second open file description is a second holder, as another process would be */
	assert_int_equal(m2m_state_lock(&st, "lock", 0, &fd2, &err), M2M_ERR_BUSY);
	assert_int_equal(m2m_state_lock(&st, "lock", 100, &fd2, &err), M2M_ERR_BUSY);
	assert_non_null(strstr(err.msg, "held by another process"));
	m2m_state_unlock(fd);
	assert_int_equal(m2m_state_lock(&st, "lock", 0, &fd2, &err), M2M_OK);
	m2m_state_unlock(fd2);
	m2m_state_close(&st);
}

/*
 * A lock removed by its holder (its subject is gone) while another process waits
 * for it: the waiter must not end up holding the removed file, which nobody else
 * would see; it takes the lock afresh, on a file that has the name.
 */
static void test_lock_remove(void **state)
{
	struct m2m_state st;
	struct m2m_err err;
	char path[PATH_MAX + 8], buf[16] = "";
	int fd, status;
	pid_t pid;
	FILE *fp;

	(void)state;
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	assert_int_equal(m2m_state_lock(&st, "lock", 0, &fd, &err), M2M_OK);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd2;

		close(fd); /* the parent's lock is the parent's alone */
		if (m2m_state_lock(&st, "lock", 5000, &fd2, &err) != M2M_OK)
			_exit(2);
		_exit(write(fd2, "child", 5) == 5 ? 0 : 3);
	}
	m2m_sleep_ms(200, NULL); /* the child has opened the file and waits */
	m2m_state_unlock_remove(&st, "lock", fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	snprintf(path, sizeof(path), "%s/lock", sdir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "child");
	/* and a lock nobody waits for is simply gone */
	assert_int_equal(m2m_state_lock(&st, "lock", 0, &fd, &err), M2M_OK);
	m2m_state_unlock_remove(&st, "lock", fd);
	assert_int_equal(access(path, F_OK), -1);
	m2m_state_close(&st);
}

/* a full disk or quota is STORAGE (exit 19), anything else a failure */
static void test_errno_rc(void **state)
{
	(void)state;
	assert_int_equal(m2m_state_errno_rc(ENOSPC), M2M_ERR_STORAGE);
	assert_int_equal(m2m_state_errno_rc(EDQUOT), M2M_ERR_STORAGE);
	assert_int_equal(m2m_state_errno_rc(EIO), M2M_ERR_FAILURE);
	assert_int_equal(m2m_state_errno_rc(EACCES), M2M_ERR_FAILURE);
}

static void test_crc32(void **state)
{
	(void)state;
	/* the check value of CRC-32/ISO-HDLC */
	assert_int_equal(m2m_crc32("123456789", 9), 0xcbf43926ul);
	assert_int_equal(m2m_crc32("", 0), 0);
}

struct seen {
	unsigned n;
	char recs[8][32];
};

static int collect(const char *rec, size_t len, void *ctx)
{
	struct seen *s = ctx;

	assert_int_equal(strlen(rec), len);
	if (s->n < 8)
		snprintf(s->recs[s->n], sizeof(s->recs[0]), "%s", rec);
	s->n++;
	return 0;
}

static int stop_after_one(const char *rec, size_t len, void *ctx)
{
	collect(rec, len, ctx);
	return 77;
}

static const char *recs[] = { "{\"step\":\"download\"}", "{\"step\":\"verified\"}", "x",
			      "{\"step\":\"installed\",\"slot\":\"B\"}" };

static void fill(struct m2m_state *st, const char *name)
{
	struct m2m_journal j;
	struct m2m_err err;

	assert_int_equal(m2m_journal_open(st, name, 4096, &j, &err), M2M_OK);
	assert_int_equal(j.records, 0);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(m2m_journal_append(&j, recs[i], strlen(recs[i]), &err), M2M_OK);
	assert_int_equal(j.records, 4);
	m2m_journal_close(&j);
}

static void test_journal(void **state)
{
	struct m2m_state st;
	struct m2m_journal j;
	struct m2m_err err;
	struct seen s = { 0 };
	char *buf;
	size_t len;

	(void)state;
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	/* no journal yet: no records */
	assert_int_equal(m2m_journal_replay(&st, "j", 4096, collect, &s, &err), M2M_OK);
	assert_int_equal(s.n, 0);
	fill(&st, "j");
	assert_int_equal(m2m_journal_replay(&st, "j", 4096, collect, &s, &err), M2M_OK);
	assert_int_equal(s.n, 4);
	for (int i = 0; i < 4; i++)
		assert_string_equal(s.recs[i], recs[i]);
	/* readable by a person: "<crc> <record>" */
	assert_int_equal(m2m_state_read(&st, "j", 4096, NULL, NULL, &buf, &len, &err), M2M_OK);
	assert_non_null(strstr(buf, " {\"step\":\"download\"}\n"));
	free(buf);
	/* reopening counts the records and appends after them */
	assert_int_equal(m2m_journal_open(&st, "j", 4096, &j, &err), M2M_OK);
	assert_int_equal(j.records, 4);
	/* a record is one line */
	assert_int_equal(m2m_journal_append(&j, "a\nb", 3, &err), M2M_ERR_FAILURE);
	assert_int_equal(m2m_journal_append(&j, "a\0b", 3, &err), M2M_ERR_FAILURE);
	assert_int_equal(m2m_journal_append(&j, "5", 1, &err), M2M_OK);
	m2m_journal_close(&j);
	s.n = 0;
	assert_int_equal(m2m_journal_replay(&st, "j", 4096, collect, &s, &err), M2M_OK);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.recs[4], "5");
	m2m_state_close(&st);
}

/* A power cut at any byte of the last write: the records before it, and nothing else. */
static void test_journal_torn(void **state)
{
	struct m2m_state st;
	struct m2m_err err;
	char *whole;
	size_t wlen, bounds[5] = { 0 };

	(void)state;
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	fill(&st, "full");
	assert_int_equal(m2m_state_read(&st, "full", 4096, NULL, NULL, &whole, &wlen, &err), M2M_OK);
	for (int i = 0, k = 1; i < (int)wlen; i++)
		if (whole[i] == '\n')
			bounds[k++] = (size_t)i + 1;
	for (size_t cut = 0; cut <= wlen; cut++) {
		struct seen s = { 0 };
		struct m2m_journal j;
		unsigned expect = 0;

		while (expect < 4 && bounds[expect + 1] <= cut)
			expect++;
		put("t", whole, cut);
		assert_int_equal(m2m_journal_replay(&st, "t", 4096, collect, &s, &err), M2M_OK);
		assert_int_equal(s.n, expect);
		/* a torn tail of zeros, as a file system may leave after a power cut */
		if (cut < wlen) {
			char z[600];

			memcpy(z, whole, cut);
			memset(z + cut, 0, 40);
			put("t", z, cut + 40);
			s.n = 0;
			assert_int_equal(m2m_journal_replay(&st, "t", 4096, collect, &s, &err), M2M_OK);
			assert_int_equal(s.n, expect);
		}
		/* opening for append cuts the torn line; the next record follows the whole ones */
		assert_int_equal(m2m_journal_open(&st, "t", 4096, &j, &err), M2M_OK);
		assert_int_equal(j.records, expect);
		assert_int_equal(j.size, bounds[expect]);
		assert_int_equal(m2m_journal_append(&j, "after", 5, &err), M2M_OK);
		m2m_journal_close(&j);
		s.n = 0;
		assert_int_equal(m2m_journal_replay(&st, "t", 4096, collect, &s, &err), M2M_OK);
		assert_int_equal(s.n, expect + 1);
		assert_string_equal(s.recs[expect], "after");
	}
	free(whole);
	m2m_state_close(&st);
}

static void test_journal_damage(void **state)
{
	struct m2m_state st;
	struct m2m_journal j;
	struct m2m_err err;
	struct seen s = { 0 };
	char *buf;
	size_t len;

	(void)state;
	assert_int_equal(m2m_state_open(&st, sdir, &err), M2M_OK);
	fill(&st, "d");
	assert_int_equal(m2m_state_read(&st, "d", 4096, NULL, NULL, &buf, &len, &err), M2M_OK);
	/* one bit of the second record flipped, whole records after it: damage, not a power cut */
	buf[strchr(buf, '\n') - buf + 12] ^= 1;
	put("d", buf, len);
	free(buf);
	assert_int_equal(m2m_journal_replay(&st, "d", 4096, collect, &s, &err), M2M_ERR_FAILURE);
	assert_non_null(strstr(err.msg, "record 2 is damaged"));
	assert_int_equal(m2m_journal_open(&st, "d", 4096, &j, &err), M2M_ERR_FAILURE);
	assert_int_equal(j.fd, -1);
	/* the bound: a journal larger than its max is not read, and never grows past it */
	fill(&st, "m");
	assert_int_equal(m2m_journal_replay(&st, "m", 50, collect, &s, &err), M2M_ERR_FAILURE);
	assert_non_null(strstr(err.msg, "more than the 50 allowed"));
	assert_int_equal(m2m_journal_open(&st, "m2", 40, &j, &err), M2M_OK);
	assert_int_equal(m2m_journal_append(&j, "0123456789", 10, &err), M2M_OK); /* 20 bytes */
	assert_int_equal(m2m_journal_append(&j, "0123456789", 10, &err), M2M_OK); /* 40 */
	assert_int_equal(m2m_journal_append(&j, "0", 1, &err), M2M_ERR_FAILURE);
	assert_non_null(strstr(err.msg, "full"));
	m2m_journal_close(&j);
	/* fn's non-zero return stops the replay and is returned */
	s.n = 0;
	assert_int_equal(m2m_journal_replay(&st, "m2", 4096, stop_after_one, &s, &err), 77);
	assert_int_equal(s.n, 1);
	m2m_state_close(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_fair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_remove, setup, teardown),
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_errno_rc),
		cmocka_unit_test_setup_teardown(test_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_torn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_damage, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

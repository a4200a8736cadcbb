/* Base helpers: secrets from their sources, atomic files, locks, backoff. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/m2m-test-base.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_secret_file(void **state)
{
	struct m2m_secret_ref ref = { .source = M2M_SECRET_FILE };
	struct m2m_secret s = { 0 };
	struct m2m_err err;
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/pin", dir);
	ref.path = path;
	write_file(path, "1234\n", 0600);
	assert_int_equal(m2m_secret_read(&ref, "PIN", &s, &err), M2M_OK);
	assert_int_equal(s.len, 4);
	assert_string_equal(s.buf, "1234"); /* one trailing newline is not part of it */
	m2m_secret_wipe(&s);
	assert_null(s.buf);

	write_file(path, "1234", 0644);
	assert_int_equal(m2m_secret_read(&ref, "PIN", &s, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "readable by others (mode 0644)"));
	assert_null(s.buf);
	/* the group is not "others": the message names who can read it */
	write_file(path, "1234", 0640);
	assert_int_equal(m2m_secret_read(&ref, "PIN", &s, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "readable by its group (mode 0640)"));
	assert_null(s.buf);
	/* a systemd credential is a name in $CREDENTIALS_DIRECTORY, never a path out of it */
	{
		struct m2m_secret_ref cred = { .source = M2M_SECRET_CREDENTIAL, .path = "../pin",
					       .fd = -1 };

		setenv("CREDENTIALS_DIRECTORY", "/tmp", 1);
		assert_int_equal(m2m_secret_read(&cred, "PIN", &s, &err), M2M_ERR_CREDENTIAL);
		assert_non_null(strstr(err.msg, "not a credential name"));
		assert_null(s.buf);
		unsetenv("CREDENTIALS_DIRECTORY");
		assert_non_null(m2m_credential_name_invalid(".."));
		assert_non_null(m2m_credential_name_invalid("a/b"));
		assert_non_null(m2m_credential_name_invalid(""));
		assert_null(m2m_credential_name_invalid("pos.pin"));
	}

	ref.path = "/nonexistent/pin";
	assert_int_equal(m2m_secret_read(&ref, "PIN", &s, &err), M2M_ERR_CREDENTIAL);
	assert_null(strchr(err.msg, '\n'));
}

static void test_secret_fd_and_credential(void **state)
{
	struct m2m_secret_ref ref = { .source = M2M_SECRET_FD };
	struct m2m_secret s = { 0 };
	struct m2m_err err;
	char path[128];
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "pass word\r\n", 11), 11);
	close(p[1]);
	ref.fd = p[0];
	assert_int_equal(m2m_secret_read(&ref, "passphrase", &s, &err), M2M_OK);
	assert_string_equal(s.buf, "pass word");
	m2m_secret_wipe(&s);
	close(p[0]);
	ref.fd = 987; /* not open */
	assert_int_equal(m2m_secret_read(&ref, "passphrase", &s, &err), M2M_ERR_CREDENTIAL);

	ref = (struct m2m_secret_ref){ .source = M2M_SECRET_CREDENTIAL, .path = "p12pin" };
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(m2m_secret_read(&ref, "PIN", &s, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "CREDENTIALS_DIRECTORY"));
	snprintf(path, sizeof(path), "%s/p12pin", dir);
	write_file(path, "s3cret", 0400);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	assert_int_equal(m2m_secret_read(&ref, "PIN", &s, &err), M2M_OK);
	assert_string_equal(s.buf, "s3cret");
	m2m_secret_wipe(&s);
	unsetenv("CREDENTIALS_DIRECTORY");
}

static int prompt_calls;

static int fake_prompt(void *ctx, const char *what, char *buf, size_t size, struct m2m_err *err)
{
	prompt_calls++;
	assert_string_equal(what, "PIN");
	assert_true(size > 1024);
	if (ctx)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: cancelled", what);
	/* a prompt that forgets the terminator is still cut inside the buffer */
	memset(buf, 'x', size);
	memcpy(buf, "4711", 5);
	return M2M_OK;
}

static void test_secret_prompt(void **state)
{
	struct m2m_secret_ref ref = { .source = M2M_SECRET_PROMPT };
	struct m2m_secret s = { 0 };
	struct m2m_err err;
	int saved = dup(0), null = open("/dev/null", O_RDONLY);

	(void)state;
	/* the library asks nobody by itself */
	m2m_set_prompt(NULL, NULL);
	assert_int_equal(m2m_secret_read(&ref, "PIN", &s, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "nobody to ask"));
	assert_null(s.buf);
	/* an application's prompt */
	m2m_set_prompt(fake_prompt, NULL);
	assert_int_equal(m2m_secret_read(&ref, "PIN", &s, &err), M2M_OK);
	assert_string_equal(s.buf, "4711");
	assert_int_equal(s.len, 4);
	m2m_secret_wipe(&s);
	m2m_set_prompt(fake_prompt, (void *)1);
	assert_int_equal(m2m_secret_read(&ref, "PIN", &s, &err), M2M_ERR_CREDENTIAL);
	assert_string_equal(err.msg, "PIN: cancelled");
	assert_null(s.buf);
	assert_int_equal(prompt_calls, 2);
	/* the tools' prompt: unattended (stdin not a terminal), nobody is asked */
	m2m_set_prompt(cli_tty_prompt, NULL);
	dup2(null, 0);
	assert_int_equal(m2m_secret_read(&ref, "PIN", &s, &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "not a terminal"));
	dup2(saved, 0);
	close(saved);
	close(null);
	m2m_set_prompt(NULL, NULL);
}

static void test_private_file_check(void **state)
{
	struct m2m_err err;
	char path[128];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	write_file(path, "-----BEGIN PRIVATE KEY-----\n", 0644);
	fd = open(path, O_RDONLY);
	assert_int_equal(m2m_check_private(fd, path, "private key", &err), M2M_ERR_CREDENTIAL);
	assert_non_null(strstr(err.msg, "readable by others (mode 0644); chmod 600"));
	fchmod(fd, 0600);
	assert_int_equal(m2m_check_private(fd, path, "private key", &err), M2M_OK);
	close(fd);
}

static void test_atomic_write_and_read(void **state)
{
	struct m2m_err err;
	char path[128], *buf = NULL;
	struct stat st;
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/state", dir);
	assert_int_equal(m2m_write_atomic(path, "one\n", 4, 0600, &err), M2M_OK);
	assert_int_equal(m2m_write_atomic(path, "two", 3, 0600, &err), M2M_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(m2m_read_file(path, 100, &buf, &len, &err), M2M_OK);
	assert_int_equal(len, 3);
	assert_string_equal(buf, "two");
	free(buf);
	assert_int_equal(m2m_read_file(path, 2, &buf, &len, &err), M2M_ERR_FAILURE);
	assert_non_null(strstr(err.msg, "larger than 2 bytes"));
	/* exactly the bound is within it */
	assert_int_equal(m2m_read_file(path, 3, &buf, &len, &err), M2M_OK);
	assert_int_equal(len, 3);
	free(buf);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(m2m_read_file(path, 100, &buf, &len, &err), M2M_ERR_NOT_FOUND);
}

static void test_lock(void **state)
{
	struct m2m_err err;
	char path[128];
	int a = -1, b = -1;
	uint64_t t0;

	(void)state;
	snprintf(path, sizeof(path), "%s/x.lock", dir);
	assert_int_equal(m2m_lock(path, 0, &a, &err), M2M_OK);
	t0 = m2m_now_ms();
	assert_int_equal(m2m_lock(path, 150, &b, &err), M2M_ERR_BUSY);
	assert_true(m2m_now_ms() - t0 >= 140);
	assert_true(m2m_now_ms() - t0 < 1000);
	m2m_unlock(a);
	assert_int_equal(m2m_lock(path, 0, &b, &err), M2M_OK);
	m2m_unlock(b);
}

static void test_backoff(void **state)
{
	struct m2m_backoff net = { .min_ms = 1000, .max_ms = 60000 };
	struct m2m_backoff flat = { .min_ms = 5000, .max_ms = 1000 }; /* max < min: min wins */

	(void)state;
	for (int i = 0; i < 200; i++) {
		unsigned d0 = m2m_backoff_ms(&net, 0), d3 = m2m_backoff_ms(&net, 3);
		unsigned d20 = m2m_backoff_ms(&net, 20), f = m2m_backoff_ms(&flat, 7);

		assert_true(d0 >= 750 && d0 <= 1000);
		assert_true(d3 >= 6000 && d3 <= 8000);
		assert_true(d20 >= 45000 && d20 <= 60000); /* capped */
		assert_true(f >= 3750 && f <= 5000);
	}
	for (int i = 0; i < 1000; i++)
		assert_true(m2m_random_below(7) < 7);
	assert_int_equal(m2m_random_below(1), 0);
}

/* The one duration grammar of the command line and m2m.yaml. */
static void test_duration(void **state)
{
	static const struct {
		const char *s;
		unsigned ms;
	} ok[] = {
		{ "0", 0 }, { "10", 10000 }, { "250ms", 250 }, { "5m", 300000 }, { "24h", 86400000 },
		{ "86400000ms", 86400000 }, { "2.5", 2500 }, { "2.5s", 2500 }, { "1.5m", 90000 },
		{ ".5", 500 }, { "0.25h", 900000 }, { "1.0005s", 1001 }, { "1.0004s", 1000 },
		{ "0.4ms", 0 }, { "0.5ms", 1 }, { "007s", 7000 }, { "23.99999999999999h", 86400000 },
		{ "24.0000001h", 86400000 }, /* 0.36 ms over: rounded to 24h */
		{ "86399.9994", 86399999 }, { "1.1234567891234ms", 1 },
	};
	static const struct {
		const char *s, *why;
	} bad[] = {
		{ "", "not a number" }, { "s", "not a number" }, { ".", "not a number" },
		{ "5.", "not a number" }, { ".s", "not a number" }, { "-1s", "not a number" },
		{ "+5s", "not a number" }, { " 5", "not a number" }, { "1.s", "not a number" },
		{ "10 s", "unknown unit" }, { "10S", "unknown unit" }, { "1h30m", "unknown unit" },
		{ "1e3", "unknown unit" }, { "0x10", "unknown unit" }, { "1.5.5s", "unknown unit" },
		{ "1,5s", "unknown unit" }, { "5 ", "unknown unit" }, { "inf", "not a number" },
		{ "86400001ms", "longer than 24h" }, { "1441m", "longer than 24h" },
		{ "24.000001h", "longer than 24h" }, { "86400.0005", "longer than 24h" },
		{ "99999999999999999999s", "longer than 24h" },
		{ "99999999999999999999999999999999999999999ms", "longer than 24h" },
		{ "18446744073709551617h", "longer than 24h" },
	};
	unsigned ms;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = 7;
		if (m2m_parse_duration(ok[i].s, &ms))
			fail_msg("'%s' refused: %s", ok[i].s, m2m_parse_duration(ok[i].s, &ms));
		if (ms != ok[i].ms)
			fail_msg("'%s': %u ms, expected %u", ok[i].s, ms, ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why;

		ms = 7;
		why = m2m_parse_duration(bad[i].s, &ms);
		if (!why)
			fail_msg("'%s' accepted as %u ms", bad[i].s, ms);
		if (strcmp(why, bad[i].why) != 0)
			fail_msg("'%s': '%s', expected '%s'", bad[i].s, why, bad[i].why);
		assert_int_equal(ms, 7); /* untouched */
	}
	assert_int_equal(M2M_MAX_DURATION_MS, 86400000u);
}

static void test_hex(void **state)
{
	uint8_t b[4], in[3] = { 0x00, 0xab, 0x7f };
	char out[7];
	size_t n;

	(void)state;
	m2m_hex(in, 3, out, sizeof(out));
	assert_string_equal(out, "00ab7f");
	assert_true(m2m_unhex("00AB7f", b, sizeof(b), &n));
	assert_int_equal(n, 3);
	assert_memory_equal(b, in, 3);
	assert_true(m2m_unhex("", b, sizeof(b), &n));
	assert_int_equal(n, 0);
	assert_false(m2m_unhex("0", b, sizeof(b), &n));          /* odd */
	assert_false(m2m_unhex("0g", b, sizeof(b), &n));         /* not hex */
	assert_false(m2m_unhex(" f", b, sizeof(b), &n));         /* sscanf would take it */
	assert_false(m2m_unhex("0011223344", b, sizeof(b), &n)); /* too long */
}

/* m2m_resolve: what getaddrinfo gives, within the limit; a lookup that fails says which name */
static void test_resolve(void **state)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM }, *ai = NULL;
	struct m2m_err err = { 0 };

	(void)state;
	assert_int_equal(m2m_resolve("127.0.0.1", "5683", &hints, 1000, NULL, &ai, &err), M2M_OK);
	assert_non_null(ai);
	assert_int_equal(ai->ai_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)ai->ai_addr)->sin_port), 5683);
	freeaddrinfo(ai);
	/* /etc/hosts names localhost on every Debian system */
	assert_int_equal(m2m_resolve("localhost", NULL, &hints, 1000, NULL, &ai, &err), M2M_OK);
	freeaddrinfo(ai);
	/* a service that is no number and no name in /etc/services */
	assert_int_equal(m2m_resolve("127.0.0.1", "no-such-service-m2m", &hints, 1000, NULL, &ai,
				     &err), M2M_ERR_UNREACHABLE);
	assert_null(ai);
	assert_non_null(strstr(err.msg, "127.0.0.1: "));
	/* a stop already set: at once */
	{
		volatile int stop = 1;

		assert_int_equal(m2m_resolve("localhost", NULL, &hints, 5000, &stop, &ai, &err),
				 M2M_ERR_TIMEOUT);
		assert_null(ai);
	}
	/* many in a row: each lookup's block is freed by whichever side ends last */
	for (int i = 0; i < 200; i++) {
		assert_int_equal(m2m_resolve("127.0.0.1", "1", &hints, 1000, NULL, &ai, &err),
				 M2M_OK);
		freeaddrinfo(ai);
	}
}

/* --wrap=getaddrinfo (Makefile): a name server that never answers for *.hang.test until released */
static pthread_mutex_t hang_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hang_cv = PTHREAD_COND_INITIALIZER;
static bool hang_released;

int __real_getaddrinfo(const char *host, const char *port, const struct addrinfo *hints,
		       struct addrinfo **res);
int __wrap_getaddrinfo(const char *host, const char *port, const struct addrinfo *hints,
		       struct addrinfo **res);
int __wrap_getaddrinfo(const char *host, const char *port, const struct addrinfo *hints,
		       struct addrinfo **res)
{
	size_t n = host ? strlen(host) : 0;

	if (n >= 10 && strcmp(host + n - 10, ".hang.test") == 0) {
		pthread_mutex_lock(&hang_mu);
		while (!hang_released)
			pthread_cond_wait(&hang_cv, &hang_mu);
		pthread_mutex_unlock(&hang_mu);
		return EAI_NONAME;
	}
	return __real_getaddrinfo(host, port, hints, res);
}

static void hang(bool on)
{
	pthread_mutex_lock(&hang_mu);
	hang_released = !on;
	pthread_cond_broadcast(&hang_cv);
	pthread_mutex_unlock(&hang_mu);
}

static void *release_later(void *arg)
{
	(void)arg;
	usleep(150 * 1000);
	hang(false);
	return NULL;
}

static bool pending_drains(void)
{
	for (int i = 0; i < 300 && m2m_resolve_pending() != 0; i++)
		usleep(10 * 1000);
	return m2m_resolve_pending() == 0;
}

/*
 * Lookups given up on run on until the resolver gives up: at most
 * M2M_RESOLVE_MAX_PENDING at once, so that a caller that tries again and
 * again cannot pile up threads; one beyond waits its own limit for a place.
 */
static void test_resolve_pending(void **state)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM }, *ai = NULL;
	struct m2m_err err = { 0 };
	volatile int stop = 1;
	uint64_t t0, took;
	pthread_t t;

	(void)state;
	hang(true);
	for (unsigned i = 0; i < M2M_RESOLVE_MAX_PENDING; i++) {
		assert_int_equal(m2m_resolve("dns.hang.test", NULL, &hints, 50, NULL, &ai, &err),
				 M2M_ERR_UNREACHABLE);
		assert_non_null(strstr(err.msg, "no answer to the name lookup within 50 ms"));
	}
	assert_int_equal(m2m_resolve_pending(), M2M_RESOLVE_MAX_PENDING);
	/* one more: no thread started, its limit held, and why */
	t0 = m2m_now_ms();
	assert_int_equal(m2m_resolve("dns.hang.test", NULL, &hints, 200, NULL, &ai, &err),
			 M2M_ERR_UNREACHABLE);
	took = m2m_now_ms() - t0;
	assert_true(took >= 195 && took < 400);
	assert_non_null(strstr(err.msg, "earlier ones still wait for the name server"));
	assert_int_equal(m2m_resolve_pending(), M2M_RESOLVE_MAX_PENDING);
	/* the bound is the process's: a name that would resolve at once waits too; a stop ends it */
	assert_int_equal(m2m_resolve("127.0.0.1", "1", &hints, 100, NULL, &ai, &err),
			 M2M_ERR_UNREACHABLE);
	assert_int_equal(m2m_resolve("127.0.0.1", "1", &hints, 5000, &stop, &ai, &err),
			 M2M_ERR_TIMEOUT);
	assert_null(ai);
	/* a waiter gets the place of the first lookup that ends */
	assert_int_equal(pthread_create(&t, NULL, release_later, NULL), 0);
	t0 = m2m_now_ms();
	assert_int_equal(m2m_resolve("127.0.0.1", "1", &hints, 3000, NULL, &ai, &err), M2M_OK);
	took = m2m_now_ms() - t0;
	assert_true(took >= 100 && took < 1500);
	freeaddrinfo(ai);
	pthread_join(t, NULL);
	/* every thread ended: none left behind */
	assert_true(pending_drains());
}

/* m2m_who: the uid, and under sudo as root who ran it; values that are not plain left out */
static void test_who(void **state)
{
	char w[96], want[64];

	(void)state;
	unsetenv("SUDO_UID");
	unsetenv("SUDO_USER");
	m2m_who(w, sizeof(w));
	snprintf(want, sizeof(want), "uid %u", (unsigned)getuid());
	assert_string_equal(w, want);
	setenv("SUDO_UID", "1000", 1);
	setenv("SUDO_USER", "alice", 1);
	m2m_who(w, sizeof(w));
	if (getuid() == 0)
		assert_string_equal(w, "uid 0 (sudo from uid 1000 alice)");
	else
		assert_string_equal(w, want); /* not root: sudo's variables say nothing */
	if (getuid() == 0) {
		setenv("SUDO_USER", "al ice\n(evil)", 1);
		m2m_who(w, sizeof(w));
		assert_string_equal(w, "uid 0 (sudo from uid 1000)");
		setenv("SUDO_UID", "1000; rm", 1);
		m2m_who(w, sizeof(w));
		assert_string_equal(w, "uid 0");
		setenv("SUDO_UID", "", 1);
		m2m_who(w, sizeof(w));
		assert_string_equal(w, "uid 0");
		m2m_who(w, 8); /* cut, terminated */
		assert_int_equal(strlen(w), 5);
	}
	unsetenv("SUDO_UID");
	unsetenv("SUDO_USER");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_secret_file),
		cmocka_unit_test(test_secret_fd_and_credential),
		cmocka_unit_test(test_secret_prompt),
		cmocka_unit_test(test_private_file_check),
		cmocka_unit_test(test_atomic_write_and_read),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_resolve_pending),
		cmocka_unit_test(test_who),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * The C API for device management inside an application's own event loop:
 * one poll() over the LwM2M client's descriptor and the application's own
 * (here stdin), nothing blocking in between. It registers, serves the
 * server's requests while it answers each line on stdin ("ping" gets
 * "pong"), and on "quit" or the end of stdin de-registers and exits with
 * the family's result codes.
 *   cc -o dm-poll dm-poll.c $(pkg-config --cflags --libs libm2m)
 *   ./dm-poll          (config from $M2M_CONFIG or /etc/m2m/m2m.yaml, dm: section)
 * At the end it tells on stderr how often it stepped and its longest step:
 * the step never waits for the network, so that the loop's other work never
 * waits for it.
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <m2m/config.h>
#include <m2m/dm.h>
#include <m2m/m2m.h>

static void log_stderr(void *ctx, int prio, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	fprintf(stderr, "dm-poll: <%d> ", prio);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The application's own work: a line on stdin. False once it says stop. */
static bool on_stdin(char *buf, size_t size, size_t *used)
{
	ssize_t n = read(STDIN_FILENO, buf + *used, size - 1 - *used);
	char *nl;

	if (n <= 0)
		return false;
	*used += (size_t)n;
	buf[*used] = 0;
	while ((nl = strchr(buf, '\n'))) {
		*nl = 0;
		if (strcmp(buf, "quit") == 0)
			return false;
		printf("%s%s\n", strncmp(buf, "ping", 4) == 0 ? "pong" : "? ",
		       strncmp(buf, "ping", 4) == 0 ? buf + 4 : buf);
		fflush(stdout);
		*used -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *used + 1);
	}
	if (*used == size - 1)
		*used = 0; /* a line too long: dropped */
	return true;
}

int main(void)
{
	struct m2m_config *cfg = NULL;
	struct m2m_dm *dm = NULL;
	struct m2m_err err = { 0 };
	struct pollfd fds[2] = { { .fd = -1, .events = POLLIN },
				 { .fd = STDIN_FILENO, .events = POLLIN } };
	char line[256];
	size_t used = 0;
	unsigned next = 0, steps = 0;
	double t0, longest = 0, start;
	bool run = true;
	int rc;

	rc = m2m_config_load(NULL, &cfg, &err);
	if (!rc)
		rc = m2m_dm_open(cfg, &dm, &err);
	if (rc) {
		fprintf(stderr, "dm-poll: %s (%s)\n", err.msg, m2m_rc_name(rc));
		m2m_config_free(cfg);
		return rc;
	}
	m2m_dm_set_log(dm, log_stderr, NULL);
	/* out of reach now: the steps try again, backing off */
	if (m2m_dm_register(dm, 30000, &err))
		fprintf(stderr, "dm-poll: %s (trying again)\n", err.msg);
	fds[0].fd = m2m_dm_fd(dm);
	start = now_ms();
	while (run) {
		t0 = now_ms();
		rc = m2m_dm_serve_step(dm, &next, &err);
		if (now_ms() - t0 > longest)
			longest = now_ms() - t0;
		steps++;
		if (rc)
			break;
		if (poll(fds, 2, (int)next) < 0)
			continue; /* a signal */
		if (fds[1].revents)
			run = on_stdin(line, sizeof(line), &used);
	}
	fprintf(stderr, "dm-poll: %u steps in %.0f ms, the longest %.1f ms\n", steps,
		now_ms() - start, longest);
	if (!rc)
		rc = m2m_dm_deregister(dm, 5000, &err);
	if (rc)
		fprintf(stderr, "dm-poll: %s (%s)\n", err.msg, m2m_rc_name(rc));
	m2m_dm_close(dm);
	m2m_config_free(cfg);
	return rc;
}

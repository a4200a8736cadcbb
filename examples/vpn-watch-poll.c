/*
 * The always-on supervisor inside an application's own poll loop: the loop
 * also serves a control channel of its own (here stdin), as a device agent
 * would serve its management socket next to the tunnel.
 *   cc -o vpn-watch-poll vpn-watch-poll.c $(pkg-config --cflags --libs libm2m)
 *   ./vpn-watch-poll [PROFILE...]   (config from $M2M_CONFIG or /etc/m2m/m2m.yaml)
 * It keeps the profiles (default: every always-on one) up and stops when
 * stdin ends or says "quit"; any other line is answered with "alive".
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <m2m/config.h>
#include <m2m/m2m.h>
#include <m2m/vpn.h>

static void log_line(void *ctx, int prio, const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	(void)ctx;
	if (prio > LOG_INFO)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "%lld.%03ld ", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* One read of stdin, line by line: 1 to go on, 0 to stop (EOF or "quit"). */
static int control(char *buf, size_t *have, size_t cap)
{
	ssize_t n = read(0, buf + *have, cap - 1 - *have);
	char *nl;

	if (n <= 0)
		return 0;
	*have += (size_t)n;
	buf[*have] = '\0';
	while ((nl = strchr(buf, '\n'))) {
		*nl = '\0';
		if (strcmp(buf, "quit") == 0)
			return 0;
		printf("alive\n");
		fflush(stdout);
		*have -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *have + 1);
	}
	if (*have == cap - 1)
		*have = 0; /* an overlong line: forget it */
	return 1;
}

int main(int argc, char **argv)
{
	struct m2m_config *cfg = NULL;
	struct m2m_vpn_watch *w = NULL;
	struct m2m_err err = { 0 };
	char buf[256];
	size_t have = 0;
	int rc, go = 1, wfd = -1;

	rc = m2m_config_load(NULL, &cfg, &err);
	if (!rc)
		rc = m2m_vpn_watch_open(cfg, (const char *const *)(argc > 1 ? argv + 1 : NULL),
					log_line, NULL, &w, &err);
	if (!rc)
		wfd = m2m_vpn_watch_fd(w); /* the same for the handle's life, charon restarts included */
	while (!rc && go) {
		struct pollfd pfd[2] = {
			{ .fd = wfd, .events = POLLIN },
			{ .fd = 0, .events = POLLIN },
		};
		unsigned next_ms;

		rc = m2m_vpn_watch_step(w, &next_ms, &err);
		if (rc)
			break;
		if (poll(pfd, 2, (int)next_ms) < 0)
			continue; /* EINTR: step again */
		if (pfd[1].revents)
			go = control(buf, &have, sizeof(buf));
	}
	if (rc)
		fprintf(stderr, "vpn-watch-poll: %s (%s)\n", err.msg, m2m_rc_name(rc));
	m2m_vpn_watch_close(w);
	m2m_config_free(cfg);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * gps-fix: the policy's position input (lib/policy/gpsd.c, pol_gpsd_fix) for
 * the tests.
 *
 *   gps-fix HOST PORT TIMEOUT_MS
 *
 * Asks gpsd at HOST:PORT for its fix within TIMEOUT_MS. SIGTERM or SIGINT
 * sets the stop flag (the call must end within 100 ms of it).
 * stdout: "fix mode=M lat=LAT lon=LON eph=EPH|none time=UNIX ms=T rss=KB", or
 * "rc=N NAME ms=T rss=KB" (T: the call's own time; KB: the process's peak
 * resident size); stderr: "gps-fix: what: why".
 * Exit status: the m2m exit code.
 */
#include <math.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/base.h"
#include "policy/policy_int.h"

static volatile int stop;

static long peak_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct m2m_err err = { 0 };
	struct pol_fix f;
	uint64_t t0;
	char *end;
	unsigned long ms;
	int rc;

	if (argc != 4 || (ms = strtoul(argv[3], &end, 10), *end || !*argv[3])) {
		fprintf(stderr, "usage: gps-fix HOST PORT TIMEOUT_MS\n");
		return M2M_ERR_USAGE;
	}
	/* no SA_RESTART: the wait in progress is cut short, as a daemon's would be */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	t0 = m2m_now_ms();
	rc = pol_gpsd_fix(argv[1], argv[2], t0 + ms, &stop, &f, &err);
	if (rc == M2M_OK) {
		printf("fix mode=%d lat=%.7f lon=%.7f ", f.mode, f.lat, f.lon);
		if (isnan(f.eph))
			printf("eph=none");
		else
			printf("eph=%.1f", f.eph);
		printf(" time=%" PRId64 " ms=%" PRIu64 " rss=%ld\n", f.time, m2m_now_ms() - t0, peak_kb());
		return M2M_OK;
	}
	printf("rc=%d %s ms=%" PRIu64 " rss=%ld\n", rc, m2m_rc_name(rc), m2m_now_ms() - t0, peak_kb());
	fprintf(stderr, "gps-fix: %s\n", err.msg);
	return rc;
}

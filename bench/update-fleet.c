/* SPDX-License-Identifier: MIT */
/*
 * bench/update-fleet: a fleet of `m2mdm-update check` runs started by the same
 * cron line, on a simulated clock, each waiting the jitter lib/update's
 * scheduling code gives it (upd_schedule_value, upd_schedule_delay_ms) before
 * its first request; the requests binned by the second, and their spread.
 *
 *   update-fleet [N [WINDOW_MS [IDS_FILE]]]   (default 100000, 600000 ms)
 *
 * Every device's cron fires at 0 on its own clock; the simulated skew of the
 * clocks and the start of the process are up to 1 s (uniform, a fixed PRNG).
 * Settings, one line each:
 *   id       the per-device offset, from ids dev-000000... (sequential, as
 *            serial numbers are: the hash must spread them), or from IDS_FILE
 *            (one a line) to check the real fleet's before deploying
 *   random   the value from getrandom() (a device without an id)
 *   outage   the per-device offset after a mass power outage: the devices
 *            boot 20-40 s after the power returns and run the check then
 *   none     no jitter (a window of 0): what it avoids
 * Output per setting: "fleet SETTING: ... max/mean R", the mean being N over
 * the window's seconds (for "none" too); target R <= 2.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "update/schedule.h"

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
	/* xorshift64*: the simulated clock skews, not the jitter */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1du;
}

/* mean: over the default window (n / its seconds), also for "none", whose own is 0 */
static int run(const char *name, char **ids, unsigned n, unsigned window_ms, unsigned mean_ms,
	       bool outage)
{
	unsigned secs = window_ms / 1000 + 64, *bins = calloc(secs, sizeof(*bins));
	unsigned first = secs, last = 0, max = 0, min = ~0u, busiest = 0;
	struct m2m_err err = { 0 };
	double mean;

	if (!bins)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		char id[32];
		uint64_t r, t;

		if (ids)
			snprintf(id, sizeof(id), "%s", ids[i]);
		else
			snprintf(id, sizeof(id), "dev-%06u", i);
		if (upd_schedule_value(strcmp(name, "random") ? id : NULL, &r, &err)) {
			fprintf(stderr, "update-fleet: %s\n", err.msg);
			return 1;
		}
		t = next() % 1000; /* the clock's skew and the start of the process */
		if (outage)
			t += 20000 + next() % 20000; /* the boot after the power returned */
		t += upd_schedule_delay_ms(window_ms, r);
		t /= 1000;
		if (t >= secs)
			t = secs - 1;
		bins[t]++;
	}
	for (unsigned s = 0; s < secs; s++) {
		if (!bins[s])
			continue;
		if (s < first)
			first = s;
		last = s;
	}
	for (unsigned s = first; s <= last; s++) {
		if (bins[s] > max)
			max = bins[s], busiest = s;
		if (bins[s] < min)
			min = bins[s];
	}
	mean = (double)n / (mean_ms / 1000 ? mean_ms / 1000 : 1);
	printf("fleet %-6s: %u checks, window %u s, requests over %u s from %u s: per second "
	       "mean %.1f (n / %u s), max %u (at %u s), min %u; max/mean %.2f\n",
	       name, n, window_ms / 1000, last - first + 1, first, mean, mean_ms / 1000, max,
	       busiest, min, max / mean);
	free(bins);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000;
	unsigned window_ms = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) :
					UPD_SCHEDULE_WINDOW_MS;
	char **ids = NULL, line[256];
	int rc = 0;

	if (argc > 3) {
		FILE *fp = fopen(argv[3], "r");
		unsigned k = 0;

		if (!fp || !(ids = calloc(n, sizeof(*ids)))) {
			perror(argv[3]);
			return 1;
		}
		while (k < n && fgets(line, sizeof(line), fp)) {
			line[strcspn(line, "\r\n")] = 0;
			if (*line && !(ids[k++] = strdup(line)))
				return 1;
		}
		fclose(fp);
		n = k;
	}
	if (!n)
		return 1;
	rc |= run("id", ids, n, window_ms, window_ms, false);
	rc |= run("random", ids, n, window_ms, window_ms, false);
	rc |= run("outage", ids, n, window_ms, window_ms, true);
	rc |= run("none", ids, n, 0, window_ms, false);
	return rc;
}

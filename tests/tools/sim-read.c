/* SPDX-License-Identifier: MIT */
/*
 * sim-read: lib/policy's read of the SIM from ModemManager (pol_sim_read) for the tests.
 *
 *   sim-read [-b ADDRESS] [-t MS]
 *
 * -b: the D-Bus address (none: the system bus, $DBUS_SYSTEM_BUS_ADDRESS);
 * -t: the deadline, MS milliseconds from the start (default 5000).
 * SIGTERM sets the stop flag.
 * stdout: "modem=0|1 present=0|1 iccid=I imsi=S operator=O" on success.
 * stderr: "sim-read: what: why". Exit status: the m2m exit code.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "policy/policy_int.h"

static volatile int stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };
	struct pol_sim sim;
	struct m2m_err err = { 0 };
	const char *bus = NULL;
	unsigned long ms = 5000;
	uint64_t t0 = m2m_now_ms();
	int c, rc;

	while ((c = getopt(argc, argv, "b:t:")) != -1) {
		switch (c) {
		case 'b':
			bus = optarg;
			break;
		case 't':
			ms = strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: sim-read [-b ADDRESS] [-t MS]\n");
			return M2M_ERR_USAGE;
		}
	}
	/* no SA_RESTART: the wait in the library is woken, and looks at the flag */
	sigaction(SIGTERM, &sa, NULL);
	rc = pol_sim_read(bus, t0 + ms, &stop, &sim, &err);
	if (rc) {
		fprintf(stderr, "sim-read: %s\n", err.msg);
		return rc;
	}
	printf("modem=%d present=%d iccid=%s imsi=%s operator=%s\n", sim.modem, sim.present, sim.iccid,
	       sim.imsi, sim.operator_id);
	return 0;
}

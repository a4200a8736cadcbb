/*
 * The C API for device management: an application that reports to its
 * LwM2M server after a job, serves what the server queued for a few
 * seconds, and exits with the family's result codes.
 *   cc -o dm-report dm-report.c $(pkg-config --cflags --libs libm2m)
 *   ./dm-report [SECONDS]   (config from $M2M_CONFIG or /etc/m2m/m2m.yaml, dm: section)
 */
#include <stdio.h>
#include <stdlib.h>

#include <m2m/config.h>
#include <m2m/dm.h>
#include <m2m/m2m.h>

int main(int argc, char **argv)
{
	unsigned window = argc > 1 ? (unsigned)atoi(argv[1]) * 1000 : 5000;
	struct m2m_config *cfg = NULL;
	struct m2m_dm_state st;
	struct m2m_dm *dm = NULL;
	struct m2m_err err = { 0 };
	int rc;

	rc = m2m_config_load(NULL, &cfg, &err);
	if (!rc && cfg->dm.bootstrap && !m2m_dm_bootstrapped(cfg))
		rc = m2m_dm_bootstrap(cfg, 30000, NULL, NULL, &err);
	if (!rc)
		rc = m2m_dm_open(cfg, &dm, &err);
	if (!rc)
		rc = m2m_dm_register(dm, 30000, &err);
	if (!rc)
		rc = m2m_dm_serve(dm, window, NULL, &err);
	if (!rc) {
		m2m_dm_state_load(cfg, &st);
		printf("registered at %s, binding %s, lifetime %u s\n", st.location, st.binding,
		       st.lifetime_s);
	} else {
		fprintf(stderr, "dm-report: %s (%s)\n", err.msg, m2m_rc_name(rc));
	}
	m2m_dm_close(dm);
	m2m_config_free(cfg);
	return rc;
}

/*
 * The C API for device management: an application that reports to its
 * LwM2M server after a job, serves what the server queued for the
 * configured window (dm.queue_window), and exits with the family's result
 * codes. m2m_dm_run() takes the same lock as m2mdm-status --report, so the
 * two never write the state files at once.
 *   cc -o dm-report dm-report.c $(pkg-config --cflags --libs libm2m)
 *   ./dm-report [SECONDS]   (the run's bound, default dm.timeout; config from
 *                            $M2M_CONFIG or /etc/m2m/m2m.yaml, dm: section)
 */
#include <stdio.h>
#include <stdlib.h>

#include <m2m/config.h>
#include <m2m/dm.h>
#include <m2m/m2m.h>

int main(int argc, char **argv)
{
	struct m2m_dm_run_opts o = { .version = M2M_DM_RUN_OPTS_VERSION,
				      .timeout_ms = argc > 1 ? (unsigned)atoi(argv[1]) * 1000 : 0 };
	struct m2m_config *cfg = NULL;
	struct m2m_dm_state st;
	struct m2m_err err = { 0 };
	int rc;

	rc = m2m_config_load(NULL, &cfg, &err);
	if (!rc)
		rc = m2m_dm_run(cfg, &o, &err);
	if (!rc) {
		m2m_dm_state_load(cfg, &st);
		printf("registered at %s, binding %s, lifetime %u s\n", st.location, st.binding,
		       st.lifetime_s);
	} else {
		fprintf(stderr, "dm-report: %s (%s)\n", err.msg, m2m_rc_name(rc));
	}
	m2m_config_free(cfg);
	return rc;
}

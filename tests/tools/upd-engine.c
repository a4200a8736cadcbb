/* SPDX-License-Identifier: MIT */
/*
 * upd-engine: the update engine's public calls (m2m/update.h) from the
 * command line, for the power-cut tests (308-update-engine.t): it can kill
 * itself right after the N-th journal record, so a cut falls exactly there.
 *
 *   upd-engine CONFIG install SOURCE | continue | commit | rollback |
 *                     push PKG [BLOCK] | status
 *
 * Each journal record is printed as "write N STATE[ done]" (flushed) as the
 * engine logs it; the run ends with "rc=N message". status prints one line
 * "state=S done=0|1 name=N version=V installed=I floor=F result=R next=X".
 * Environment: UPD_KILL_AT=N  SIGKILL after the N-th record;
 *              UPD_HEALTH=ok|fail|busy  what the health check says (ok).
 * The exit status is the m2m code.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "m2m/config.h"
#include "m2m/update.h"

static unsigned writes, kill_at;

static void logline(void *ctx, int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (strncmp(line, "journal: ", 9) != 0) {
		if (getenv("UPD_LOG"))
			fprintf(stderr, "log: %s\n", line);
		return;
	}
	printf("write %u %s\n", ++writes, line + 9);
	fflush(stdout);
	if (kill_at && writes == kill_at)
		raise(SIGKILL);
}

static int health(void *ctx, const struct m2m_config *cfg, unsigned timeout_ms,
		  volatile const int *stop, struct m2m_err *err)
{
	const char *h = getenv("UPD_HEALTH");

	if (!h || strcmp(h, "ok") == 0)
		return M2M_OK;
	if (strcmp(h, "busy") == 0)
		return m2m_err_set(err, M2M_ERR_BUSY, "health: not yet");
	return m2m_err_set(err, M2M_ERR_UNREACHABLE, "health: profile pos: gateway unreachable");
}

static int push(struct m2m_update *u, const char *pkg, size_t block, struct m2m_err *err)
{
	FILE *f = fopen(pkg, "rb");
	char buf[65536];
	uint64_t off = 0;
	size_t n;
	int rc;

	if (!f)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "%s: cannot open", pkg);
	if (block == 0 || block > sizeof(buf))
		block = 1024;
	rc = m2m_update_push_begin(u, err);
	while (!rc && (n = fread(buf, 1, block, f)) > 0) {
		rc = m2m_update_push(u, off, buf, n, err);
		off += n;
	}
	fclose(f);
	return rc ? rc : m2m_update_push_end(u, err);
}

int main(int argc, char **argv)
{
	struct m2m_update_opts o = { .version = M2M_UPDATE_OPTS_VERSION, .log = logline,
				     .health = health };
	struct m2m_config *cfg = NULL;
	struct m2m_update *u = NULL;
	struct m2m_err err = { 0 };
	const char *verb;
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: upd-engine CONFIG install SRC|continue|commit|rollback|push PKG [BLOCK]|status\n");
		return M2M_ERR_USAGE;
	}
	if (getenv("UPD_KILL_AT"))
		kill_at = (unsigned)strtoul(getenv("UPD_KILL_AT"), NULL, 10);
	verb = argv[2];
	rc = m2m_config_load(argv[1], &cfg, &err);
	if (rc) {
		fprintf(stderr, "upd-engine: %s\n", err.msg);
		return rc;
	}
	if (strcmp(verb, "status") == 0) {
		struct m2m_update_status st;

		rc = m2m_update_status(cfg, &st, &err);
		if (!rc)
			printf("state=%s done=%d name=%s version=%s installed=%s floor=%s result=%d next=%s\n",
			       m2m_update_state_name(st.state), st.done, st.name, st.version, st.installed,
			       st.floor, st.result, st.next);
		else
			fprintf(stderr, "upd-engine: %s\n", err.msg);
		m2m_config_free(cfg);
		return rc;
	}
	rc = m2m_update_open(cfg, &o, &u, &err);
	if (!rc) {
		if (strcmp(verb, "install") == 0 && argc > 3)
			rc = m2m_update_install(u, argv[3], &err);
		else if (strcmp(verb, "push") == 0 && argc > 3)
			rc = push(u, argv[3], argc > 4 ? (size_t)strtoul(argv[4], NULL, 10) : 0, &err);
		else if (strcmp(verb, "continue") == 0)
			rc = m2m_update_continue(u, &err);
		else if (strcmp(verb, "commit") == 0 || strcmp(verb, "rollback") == 0)
			rc = m2m_update_decide(u, strcmp(verb, "commit") == 0, &err);
		else
			rc = m2m_err_set(&err, M2M_ERR_USAGE, "%s: not a verb of upd-engine", verb);
	}
	printf("rc=%d %s\n", rc, err.msg);
	m2m_update_close(u);
	m2m_config_free(cfg);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * Object 5's engine beside the CoAP loop: the engine's calls run to their end
 * (a pull of any size, an install, a health check of minutes), so they run
 * in a worker thread with its own m2m_update handle, opened in the loop so
 * that a held update lock is answered at once; the loop hands out the job,
 * joins the worker once it ended and delivers the engine's log lines. The
 * health check under --serve is this client's own registration, or, for a
 * configuration package, a registration of the new configuration's own.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "lwm2m/obj_firmware.h"
#include "lwm2m/obj_int.h"
#include "m2m/dm.h"
#include "m2m/update.h"
#include "update/update.h"

#define FW_LINES_MAX 256 /* queued between two steps of the CoAP loop; more are counted */

/*
 * The engine's log, on whichever thread runs it (the worker, or the CoAP
 * loop taking a push): queued, and given to the client's log callback by
 * the CoAP loop (fw_deliver), so that it only ever runs on the caller's
 * thread, as m2m_dm_set_log() promises.
 */
static void fw_log(void *ctx, int prio, const char *fmt, ...)
{
	struct lw_fw *f = ctx;
	struct fw_line *l;
	char buf[512];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = strlen(buf);
	l = malloc(sizeof(*l) + n + 1);
	pthread_mutex_lock(&f->mu);
	if (!l || f->n_lines >= FW_LINES_MAX) {
		f->dropped++;
		pthread_mutex_unlock(&f->mu);
		free(l);
		return;
	}
	l->next = NULL;
	l->prio = prio;
	memcpy(l->msg, buf, n + 1);
	*f->lines_tail = l;
	f->lines_tail = &l->next;
	f->n_lines++;
	pthread_mutex_unlock(&f->mu);
}

/* The lines queued so far, to the client's log (the CoAP loop's thread). */
void fw_deliver(struct lw_objects *s, struct lw_fw *f)
{
	struct fw_line *l, *next;
	unsigned dropped;

	pthread_mutex_lock(&f->mu);
	l = f->lines;
	f->lines = NULL;
	f->lines_tail = &f->lines;
	f->n_lines = 0;
	dropped = f->dropped;
	f->dropped = 0;
	pthread_mutex_unlock(&f->mu);
	for (; l; l = next) {
		next = l->next;
		if (s->log)
			s->log(s->log_ctx, l->prio, "update: %s", l->msg);
		free(l);
	}
	if (dropped && s->log)
		s->log(s->log_ctx, LOG_WARNING, "update: %u more lines of the engine not shown", dropped);
}

/* The standard health check (m2m_dm_health): while this client serves, its registration. */
static int fw_health(void *ctx, const struct m2m_config *cfg, unsigned timeout_ms,
		     volatile const int *stop, struct m2m_err *err)
{
	struct lw_fw *f = ctx;
	struct m2m_dm_health_opts ho = { .version = M2M_DM_HEALTH_OPTS_VERSION,
					 .timeout_ms = timeout_ms, .stop = stop };
	int rc;

	/*
	 * A configuration package hands the new configuration: it replaces ours.
	 * It proves itself with a registration of its own: ours (made under the
	 * configuration it replaces, kept alive by this client) proves nothing of
	 * it, and this process holds dm.lock.
	 */
	if (cfg != f->cfg)
		ho.before = f->cfg;
	rc = lw_dm_health(cfg, &ho, cfg != f->cfg, err);
	/* cut by the end of this client (a --report run's bound, a stop), not unhealthy: not
	   decided yet, the next run checks again within the bound (resume()) */
	if (rc && stop && *stop)
		return m2m_err_set(err, M2M_ERR_BUSY, "health: stopped; the next run checks again");
	return rc;
}

/* The engine opened here, in the CoAP loop: a held update lock is answered at once. */
int fw_open_engine(struct lw_fw *f)
{
	struct m2m_update_opts uo = {
		.version = M2M_UPDATE_OPTS_VERSION, .stop = &f->stop, .health = fw_health,
		.health_ctx = f, .hold = true, .log = fw_log, .log_ctx = f,
	};
	struct m2m_err err;
	int rc = m2m_update_open(f->cfg, &uo, &f->u, &err);

	if (rc)
		return rc == M2M_ERR_BUSY ? LW_SERVICE_UNAVAILABLE : LW_INTERNAL;
	f->stop = 0;
	return 0;
}

enum fw_job fw_running(struct lw_fw *f, bool *cancel)
{
	enum fw_job j;

	pthread_mutex_lock(&f->mu);
	j = f->job;
	if (cancel)
		*cancel = f->cancel;
	pthread_mutex_unlock(&f->mu);
	return j;
}

/*
 * The worker that ended is joined (the loop's calls come by often: each read
 * and write). A cancel asked of it is made sure of: one that came as it was
 * ending found it past its check (the update then held, say).
 */
void fw_reap(struct lw_fw *f)
{
	struct m2m_err err;

	if (f->thread_live && fw_running(f, NULL) == FW_JOB_NONE) {
		pthread_join(f->thread, NULL);
		f->thread_live = false;
		f->st_at = 0; /* what was read while it ran is stale */
		if (f->cancel_wanted && fw_open_engine(f) == 0) {
			upd_engine_cancel(f->u, &err); /* USAGE: cancelled already, or failed */
			m2m_update_close(f->u);
			f->u = NULL;
		}
		f->cancel_wanted = false;
	}
}

/* The journal's last update: a configuration package, committed or rolled back. */
static bool config_ended(struct lw_fw *f)
{
	struct m2m_update_status st;
	struct m2m_err err;

	return m2m_update_status(f->cfg, &st, &err) == M2M_OK && st.done &&
	       strcmp(st.type, "config") == 0 &&
	       (st.state == M2M_UPDATE_COMMITTED || st.state == M2M_UPDATE_ROLLED_BACK);
}

/* After an Update's install: the new version waits for the device to boot its slot. */
bool lw_fw_reboot_due(const struct m2m_update_status *st)
{
	return st->state == M2M_UPDATE_INSTALLED && !st->done && st->slot[0];
}

static void *worker(void *arg)
{
	struct lw_fw *f = arg;
	struct m2m_update_status st;
	struct m2m_err err;
	enum fw_job j = fw_running(f, NULL);
	bool cancel, reconf = false, reboot = false;

	m2m_err_clear(&err);
	/* the result is the journal's: State and Update Result read it */
	if (j == FW_JOB_PULL)
		m2m_update_install(f->u, f->src, &err);
	else if (j == FW_JOB_PUSH_END)
		m2m_update_push_end(f->u, &err);
	else if (j == FW_JOB_CONTINUE)
		m2m_update_continue(f->u, &err);
	else if (m2m_update_apply(f->u, &err) == M2M_OK && m2m_update_get(f->u, &st, &err) == M2M_OK)
		reboot = lw_fw_reboot_due(&st);
	fw_running(f, &cancel);
	/* a configuration package that ended changed the file this client runs under */
	if ((j == FW_JOB_APPLY || j == FW_JOB_CONTINUE) && config_ended(f))
		reconf = true;
	/* stopped (resumable) or held: nothing was installed (a failure leaves nothing to cancel) */
	if (cancel)
		upd_engine_cancel(f->u, &err);
	m2m_update_close(f->u);
	pthread_mutex_lock(&f->mu);
	f->u = NULL;
	f->job = FW_JOB_NONE;
	f->cancel = false;
	f->reconfigured |= reconf;
	f->reboot = reboot && !cancel;
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* Hand the engine (open) to a worker for job. */
int fw_spawn(struct lw_fw *f, enum fw_job j)
{
	fw_reap(f);
	if (f->thread_live) {
		m2m_update_close(f->u);
		f->u = NULL;
		return LW_NOT_ALLOWED;
	}
	f->job = j;
	f->cancel = false;
	if (pthread_create(&f->thread, NULL, worker, f)) {
		m2m_update_close(f->u);
		f->u = NULL;
		f->job = FW_JOB_NONE;
		return LW_INTERNAL;
	}
	f->thread_live = true;
	f->st_at = 0;
	return 0;
}

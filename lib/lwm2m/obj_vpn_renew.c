/* SPDX-License-Identifier: MIT */
/*
 * A certificate renewal the management server ordered (object 33810, Renew
 * Certificate and Renew With New Key) beside the CoAP loop. The caller's
 * renew (m2m_dm_run_opts) takes up to the enroll: section's timeout and a
 * tunnel brought up for its proof, and the client must go on answering
 * meanwhile: the server's retransmissions, its reads and observations. So
 * it runs in a worker thread of its own, with every signal blocked (they are
 * the caller's, whose stop flag ends the renewal as it ends the run). The
 * worker and the loop share nothing while it runs: what it needs is copied
 * into its job before it starts, and what came of it is read by the loop
 * only once the worker is joined (tried at each step of the loop; waited for
 * at the end of the client, within the renewal's own bound).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "lwm2m/obj_int.h"

struct lw_renewal {
	pthread_t thread;
	/* the job, written before the worker starts */
	m2m_dm_renew_fn fn;
	void *ctx;
	char profile[64];
	bool new_key;
	unsigned timeout_ms;
	uint16_t inst;
	/* set by the loop: the caller stops, or a Wipe was ordered */
	volatile int stop;
	/* the worker's, read by the loop once it is joined */
	int rc;
	char line[sizeof(((struct lw_objects *)0)->renewed[0])];
	struct m2m_err err;
};

static void *renew_worker(void *arg)
{
	struct lw_renewal *r = arg;

	m2m_err_clear(&r->err);
	r->rc = r->fn(r->ctx, r->profile, r->new_key, r->timeout_ms, &r->stop, r->line,
		      sizeof(r->line), &r->err);
	return NULL;
}

int lw_renew_start(struct lw_objects *s, uint16_t inst, bool new_key, unsigned timeout_ms)
{
	struct lw_renewal *r;
	sigset_t all, old;
	int e;

	if (s->renewal)
		return EBUSY;
	r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	r->fn = s->renew_fn;
	r->ctx = s->renew_ctx;
	snprintf(r->profile, sizeof(r->profile), "%s", s->cfg->profiles[inst].name);
	r->new_key = new_key;
	r->timeout_ms = timeout_ms;
	r->inst = inst;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&r->thread, NULL, renew_worker, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		free(r);
		return e;
	}
	s->renewal = r;
	return 0;
}

void lw_renew_reap(struct lw_objects *s, bool wait)
{
	struct lw_renewal *r = s->renewal;
	const char *name;

	if (!r)
		return;
	/* a device ordered wiped brings no tunnel up for a renewal's proof; the caller's stop ends it */
	if (s->wipe_due || (s->run_stop && *s->run_stop))
		r->stop = 1;
	if (wait ? pthread_join(r->thread, NULL) : pthread_tryjoin_np(r->thread, NULL))
		return;
	s->renewal = NULL;
	name = s->cfg->profiles[r->inst].name;
	/* the words Last Renewal always had: the caller's line, or why it failed */
	r->line[sizeof(r->line) - 1] = '\0';
	if (r->rc)
		snprintf(s->renewed[r->inst], sizeof(s->renewed[0]), "failed: %.370s", r->err.msg);
	else
		memcpy(s->renewed[r->inst], r->line, sizeof(r->line));
	LW_LOG(s->log, s->log_ctx, r->rc ? LOG_WARNING : LOG_NOTICE, "%s: %s", name,
	       s->renewed[r->inst]);
	free(r);
	s->vst_at = 0;
	lw_orders_save(s);
}

const char *lw_renew_running(const struct lw_objects *s, uint16_t inst)
{
	const struct lw_renewal *r = s->renewal;

	if (!r || r->inst != inst)
		return NULL;
	return r->new_key ? "renewing with a new key" : "renewing";
}

bool lw_objects_renewing(const struct lw_objects *s)
{
	return s->renewal || (s->vpn_pending && (s->vpn_res == 13 || s->vpn_res == 14));
}

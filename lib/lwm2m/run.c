/* SPDX-License-Identifier: MIT */
/*
 * One run of the device-management client, as m2mdm-status --report (cron)
 * and --serve (always-on) do it, and as an application does it through the
 * C API: the state directory's lock, the jitter, the bootstrap if the
 * configuration calls for one, Register or Update, the Send of dm.send,
 * then the queue-mode window or serving until stopped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "base/base.h"
#include "lwm2m/lwm2m.h"
#include "m2m/dm.h"
#include "m2m/keystore.h"
#include "state/state.h"

#define SEND_WAIT_MS 9000

/*
 * Always-on: serve until *stop. A configuration package ordered through
 * object 5 that ended (committed, or rolled back by its health check)
 * replaced the file this client was started with, or put it back: the client
 * goes on under what the file holds now (*now, loaded here), with a Register
 * or Update under it, so that the server sees it back (the tunnel its health
 * check renewed may have lost its datagrams) and reads the outcome in Update
 * Result; a file that does not load keeps the client on what it had.
 */
static int serve(const struct m2m_config *cfg, struct m2m_dm **dm, const struct m2m_dm_run_opts *o,
		 volatile const int *stop, struct m2m_config **now, enum lw_serve_end *why,
		 struct m2m_err *err)
{
	struct m2m_config *next;
	struct m2m_dm *d;
	int rc;

	for (;;) {
		rc = lw_dm_serve(*dm, 0, stop, true, why, err);
		if (rc || *why != LW_SERVE_RECONF || *stop)
			return rc;
		if (m2m_config_load(cfg->path, &next, err) != M2M_OK) {
			LW_LOG(o->log, o->log_ctx, LOG_WARNING, "%s (serving on under the "
			       "configuration it had)", err->msg);
			m2m_err_clear(err);
			next = NULL;
		}
		/* the objects are built anew, so that a second package can come */
		m2m_dm_close(*dm);
		*dm = NULL;
		if (next) {
			m2m_config_free(*now);
			*now = next;
		}
		rc = lw_dm_open(*now ? *now : cfg, 0, stop, &d, err);
		if (rc)
			return rc;
		*dm = d;
		m2m_dm_set_log(d, o->log, o->log_ctx);
		lw_dm_set_orders(d, o, 0);
		LW_LOG(o->log, o->log_ctx, LOG_INFO, "a configuration update ended: serving under "
		       "%s as it is now", cfg->path);
		if (m2m_dm_register(d, 30 * 1000, err)) {
			LW_LOG(o->log, o->log_ctx, LOG_WARNING, "%s (trying again)", err->msg);
			m2m_err_clear(err);
		}
	}
}

/*
 * The Wipe the server ordered (object 33811), once its answer is out: the
 * client de-registers (its DTLS key and the tunnel it may talk through are
 * about to go), lets go of the client (a TPM or token key it holds), then the
 * caller's wipe runs; the run ends with what it returns.
 */
static int ordered_wipe(struct m2m_dm **dm, const struct m2m_dm_run_opts *o, uint64_t end,
			struct m2m_err *err)
{
	uint64_t now = m2m_now_ms();
	unsigned dereg = 5000;
	char reason[320];
	int rc;

	/* a report run's bound holds for the de-register; the wipe, once begun, has its own bounds */
	if (end && (now >= end || end - now < dereg))
		dereg = now >= end ? 1 : (unsigned)(end - now);
	snprintf(reason, sizeof(reason), "%s", lw_dm_wipe_reason(*dm));
	LW_LOG(o->log, o->log_ctx, LOG_NOTICE, "wipe %s: de-registering first", reason);
	if (m2m_dm_deregister(*dm, dereg, err)) {
		LW_LOG(o->log, o->log_ctx, LOG_WARNING, "%s (not de-registered: wiping all the same)",
		       err->msg);
		m2m_err_clear(err);
	}
	m2m_dm_close(*dm);
	*dm = NULL;
	rc = o->wipe(o->wipe_ctx, reason, err);
	if (!rc)
		LW_LOG(o->log, o->log_ctx, LOG_NOTICE, "wiped, as the management server ordered");
	return rc;
}

int m2m_dm_run(const struct m2m_config *cfg, const struct m2m_dm_run_opts *o,
	       struct m2m_err *err)
{
	enum lw_serve_end why = LW_SERVE_DONE;
	unsigned budget;
	uint64_t start = m2m_now_ms(), used;
	volatile const int *stop;
	static const int never;
	struct m2m_dm *dm = NULL;
	struct m2m_config *now = NULL;
	struct m2m_state st;
	int fd = -1, rc;

	m2m_err_clear(err);
	if (!o || o->version < 1 || o->version > M2M_DM_RUN_OPTS_VERSION)
		return m2m_err_set(err, M2M_ERR_USAGE, "m2m_dm_run: options of version %u, not 1..%u",
				   o ? o->version : 0, M2M_DM_RUN_OPTS_VERSION);
	budget = o->timeout_ms ? o->timeout_ms : cfg->dm.timeout_ms;
	stop = o->stop;
	/* the waits below take a stop flag: one that is never set if the caller has none */
	if (!stop)
		stop = &never;
	/* a DTLS key in a TPM that does not answer must not hold the run past its bound */
	m2m_keystore_set_deadline(start + budget);
	if (!cfg->dm.enabled)
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: dm: not configured", cfg->path);
	rc = m2m_state_open(&st, cfg->state_dir, err);
	if (rc)
		return rc;
	/* one run at a time: two would both write the registration and the observations */
	rc = m2m_state_lock(&st, "dm.lock", 0, &fd, err);
	m2m_state_close(&st);
	if (rc)
		return rc;
	/* a fleet woken by the same cron line must not hit the server at once */
	if (!o->serve && cfg->dm.jitter_ms) {
		unsigned j = m2m_random_below(cfg->dm.jitter_ms);

		if (j >= budget / 2)
			j = budget / 2;
		LW_LOG(o->log, o->log_ctx, LOG_DEBUG, "waiting %u ms (jitter)", j);
		if (!m2m_sleep_ms(j, stop)) {
			rc = M2M_ERR_TIMEOUT;
			m2m_err_set(err, rc, "interrupted");
			goto out;
		}
	}
	/* a factory configuration gets its real server from the bootstrap server first */
	if (cfg->dm.bootstrap && !m2m_dm_bootstrapped(cfg)) {
		rc = m2m_dm_bootstrap(cfg, budget, o->log, o->log_ctx, err);
		if (rc)
			goto out;
	}
	used = m2m_now_ms() - start;
	/* a report run's name lookup within what is left of its bound */
	rc = lw_dm_open(cfg, o->serve ? 0 : used >= budget ? 1 : (unsigned)(budget - used), stop,
			&dm, err);
	if (rc)
		goto out;
	m2m_dm_set_log(dm, o->log, o->log_ctx);
	lw_dm_set_orders(dm, o, o->serve ? 0 : start + budget);
	used = m2m_now_ms() - start;
	if (!o->serve && used >= budget) {
		rc = m2m_err_set(err, M2M_ERR_TIMEOUT, "out of time before the registration");
		goto out;
	}
	rc = m2m_dm_register(dm, o->serve ? 30 * 1000 : (unsigned)(budget - used), err);
	if (rc && o->serve) {
		/* always-on: a server out of reach now is tried again, backing off */
		LW_LOG(o->log, o->log_ctx, LOG_WARNING, "%s (trying again)", err->msg);
		m2m_err_clear(err);
		rc = M2M_OK;
	}
	if (rc)
		goto out;
	if (o->serve) {
		rc = serve(cfg, &dm, o, stop, &now, &why, err);
		if (!rc && why == LW_SERVE_WIPE) {
			rc = ordered_wipe(&dm, o, 0, err);
			goto out;
		}
		/* stopping is not failing: a server out of reach lets the registration expire */
		if (!rc && m2m_dm_deregister(dm, 5000, err)) {
			LW_LOG(o->log, o->log_ctx, LOG_WARNING, "%s (not de-registered: the "
			       "registration expires by itself)", err->msg);
			m2m_err_clear(err);
		}
	} else {
		uint64_t awake = m2m_now_ms();
		unsigned window = cfg->dm.queue_window_ms;

		/*
		 * What the deployment wants pushed, in one message, before waiting to
		 * be read. The server's requests are served while its answer is
		 * awaited, so that wait is part of the window; a server that never
		 * answers (lwm2m-node-lib ignores a POST to /dp) holds the device no
		 * longer than the window, or than two transmissions of the Send
		 * (RFC 7252: ACK_TIMEOUT 2 s x 1.5 x (1 + 2)) if the window is shorter.
		 */
		used = awake - start;
		if (cfg->dm_send && used < budget) {
			unsigned w = window > SEND_WAIT_MS ? window : SEND_WAIT_MS;

			lw_dm_send(dm, cfg->dm_send, w < budget - used ? w : (unsigned)(budget - used),
				   err);
			used = m2m_now_ms() - awake;
			window = used < window ? window - (unsigned)used : 0;
		}
		/*
		 * stay reachable for what the server queued, within the run's bound;
		 * and while a renewal it ordered runs (one answered during the Send,
		 * too), which the run waits for: the server reads what came of it
		 */
		used = m2m_now_ms() - start;
		if (!window && lw_dm_renewing(dm))
			window = 1;
		if (used < budget && window)
			rc = lw_dm_serve(dm, window < budget - used ? window : (unsigned)(budget - used),
					 stop, false, &why, err);
		/*
		 * A configuration package that ended is for the next run; a Wipe is
		 * now, also one answered while the Send's answer was awaited or in
		 * the registration's exchange, when no window was left to serve
		 */
		if (!rc && (why == LW_SERVE_WIPE || lw_dm_wipe_due(dm))) {
			rc = ordered_wipe(&dm, o, start + budget, err);
			goto out;
		}
		if (!rc && cfg->dm.binding == M2M_DM_BINDING_U && *stop)
			rc = m2m_dm_deregister(dm, 5000, err);
	}
out:
	m2m_dm_close(dm);
	m2m_config_free(now);
	m2m_unlock(fd);
	return rc;
}

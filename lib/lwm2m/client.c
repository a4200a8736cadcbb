/* SPDX-License-Identifier: MIT */
/*
 * The LwM2M client: registration interface (Register, Update with only what
 * changed, re-register on 4.04, De-register), the server's requests bound
 * to lib/coap (answered in dm_requests.c); serving, one step at a time that
 * never waits for the network (m2m_dm_serve_step, for an application's own
 * poll loop), and the --serve loop made of those steps. What it keeps on
 * disk is in dm_state.c; opening and closing the handle in dm_open.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "base/base.h"
#include "lwm2m/dm_int.h"

/* The server answered: what was kept while it did not goes out now. */
static const struct m2m_backoff retry_backoff = { .min_ms = 5000, .max_ms = 300 * 1000 };

/* The next try at the server, backing off. */
static void retry_later(struct m2m_dm *dm)
{
	dm->retry_at = m2m_now_ms() + m2m_backoff_ms(&retry_backoff, dm->retries++);
}

static void back_online(struct m2m_dm *dm)
{
	size_t stored = 0;

	for (size_t i = 0; i < dm->obs.n; i++)
		stored += dm->obs.o[i].n_note;
	if (dm->obs.offline)
		logf_(dm, LOG_NOTICE, "the server answers again%s",
		      stored ? ": sending stored notifications" : "");
	dm->obs.offline = false;
	lw_obs_flush(&dm->obs, dm->coap);
	/* a flush that fails here (not the server) must not make Updates back to back */
	if (dm->obs.offline)
		retry_later(dm);
	else
		dm->retries = 0;
}

static void obs_tick(struct m2m_dm *dm)
{
	dm->obs.storing = dm->objs.notif_storing;
	lw_obs_tick(&dm->obs, &dm->reg, dm->objs.dflt_pmin, dm->objs.dflt_pmax, dm->coap);
}

/* ---- registration ---- */

static int reg_error(struct m2m_dm *dm, int rc, struct m2m_err *err)
{
	dm->st.last_attempt = (uint64_t)time(NULL);
	dm->st.last_rc = rc;
	snprintf(dm->st.last_error, sizeof(dm->st.last_error), "%s", rc ? err->msg : "");
	lw_dm_state_save(dm);
	return rc;
}

static int answer_rc(unsigned code, const char *what, struct m2m_err *err)
{
	if (code == LW_CODE(4, 3) || code == LW_UNAUTHORIZED)
		return m2m_err_set(err, M2M_ERR_AUTH_LOCAL, "%s: the server refused us (%u.%02u)",
				   what, code >> 5, code & 31);
	return m2m_err_set(err, M2M_ERR_PROTOCOL, "%s: unexpected answer %u.%02u", what,
			   code >> 5, code & 31);
}

/* Drop what serving had under way: its answer is not waited for. */
static void abandon(struct m2m_dm *dm)
{
	if (!dm->upd.active)
		return;
	mcoap_discard(dm->coap);
	dm->upd.active = false;
	lw_buf_free(&dm->upd.links);
}

/* Wait for the answer to what was started (a blocking call has nothing else to do). */
static void wait_answer(struct m2m_dm *dm)
{
	while (!mcoap_poll(dm->coap)) {
		uint64_t left = mcoap_wait_ms(dm->coap);

		mcoap_process(dm->coap, left < 50 ? (unsigned)(left ? left : 1) : 50);
	}
}

/*
 * The Register's query. LwM2M 1.1 (TS Core 6.2.1, Transport 6.4.3): the
 * binding is U and queue mode the parameter Q of its own; a 1.1 server may
 * refuse "b=UQ". LwM2M 1.0 wrote queue mode into the binding (UQ), which is
 * what a 1.0 server reads. binding: UQ in m2m.yaml means queue mode either way.
 */
static void register_query(struct m2m_dm *dm, struct lw_update *u)
{
	bool q = u->b == M2M_DM_BINDING_UQ;

	if (u->v10)
		snprintf(u->query, sizeof(u->query), "ep=%s&lt=%u&lwm2m=1.0&b=%s",
			 dm->cfg->dm.endpoint, u->lt, q ? "UQ" : "U");
	else
		snprintf(u->query, sizeof(u->query), "ep=%s&lt=%u&lwm2m=1.1&b=U%s",
			 dm->cfg->dm.endpoint, u->lt, q ? "&Q" : "");
}

/*
 * The server refused our LwM2M 1.1 Register in a way that means it speaks
 * only 1.0: 4.12, "Supported LwM2M Versions of the Server and the Client are
 * not compatible" (TS 1.0 and 1.1, the Register's answers), or 4.00 to a
 * Register with Q, a parameter 1.0 does not know ("unknown parameter is
 * specified"). Such a server reads the 1.0 form.
 */
static bool speaks_10_only(const struct lw_update *u, unsigned code)
{
	return !u->v10 && (code == LW_CODE(4, 12) ||
			   (code == LW_BAD_REQUEST && u->b == M2M_DM_BINDING_UQ));
}

/*
 * Register. Started here, finished by register_end() (mcoap_poll() says
 * when), so that serving goes on while the server takes its time.
 */
static int register_begin(struct m2m_dm *dm, unsigned timeout_ms, enum lw_upd_kind kind,
			  struct m2m_err *err)
{
	struct lw_update *u = &dm->upd;
	bool again = u->rehandshook;
	int rc;

	lw_buf_free(&u->links);
	memset(u, 0, sizeof(*u));
	u->rehandshook = again;
	u->kind = kind;
	u->t0 = m2m_now_ms();
	u->lt = dm->objs.lifetime_s;
	u->b = dm->objs.binding;
	u->v10 = dm->try_v10;
	dm->try_v10 = false;
	lw_register_links(&dm->reg, &u->links);
	if (u->links.oom) {
		lw_buf_free(&u->links);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	register_query(dm, u);
	u->timeout_ms = timeout_ms;
	rc = mcoap_start(dm->coap, M2M_COAP_POST, "rd", u->query, LW_FMT_LINK, u->links.p,
			 u->links.len, timeout_ms, err);
	if (rc) {
		lw_buf_free(&u->links);
		return reg_error(dm, rc, err);
	}
	u->active = true;
	return M2M_OK;
}

/*
 * The Register's outcome. A server that refused LwM2M 1.1 as one that speaks
 * only 1.0 is sent the 1.0 Register at once: then M2M_OK with dm->upd.active,
 * and this is called again for its outcome.
 */
static int register_end(struct m2m_dm *dm, struct m2m_err *err)
{
	struct lw_update *u = &dm->upd;
	struct m2m_coap_msg resp;
	uint8_t *body = NULL;
	int rc = mcoap_finish(dm->coap, &resp, &body, err);

	u->active = false;
	free(body);
	if (!rc && speaks_10_only(u, resp.code)) {
		/* within what is left of the first one's time */
		uint64_t used = m2m_now_ms() - u->t0;
		unsigned left = used < u->timeout_ms ? u->timeout_ms - (unsigned)used : 1;

		logf_(dm, LOG_NOTICE, "Register: the server answered %u.%02u to LwM2M 1.1 (%s): "
		      "registering as LwM2M 1.0%s", resp.code >> 5, resp.code & 31,
		      resp.code == LW_CODE(4, 12) ? "versions not compatible" : "Q unknown to 1.0",
		      u->b == M2M_DM_BINDING_UQ ? " with b=UQ" : "");
		dm->try_v10 = true;
		return register_begin(dm, left, u->kind, err);
	}
	if (!rc && resp.code != LW_CREATED)
		rc = answer_rc(resp.code, u->v10 ? "Register as LwM2M 1.0" : "Register", err);
	if (!rc && !resp.path[0])
		rc = m2m_err_set(err, M2M_ERR_PROTOCOL, "Register: no Location-Path in the answer");
	if (rc) {
		lw_buf_free(&u->links);
		return reg_error(dm, rc, err);
	}
	snprintf(dm->st.location, sizeof(dm->st.location), "%s", resp.path);
	snprintf(dm->links, sizeof(dm->links), "%s", (char *)u->links.p);
	lw_buf_free(&u->links);
	dm->sent_lifetime = u->lt;
	dm->sent_binding = u->b;
	dm->v10 = u->v10;
	dm->st.registered = true;
	dm->st.registered_at = (uint64_t)time(NULL);
	dm->st.lifetime_s = u->lt;
	snprintf(dm->st.binding, sizeof(dm->st.binding), "%s",
		 u->b == M2M_DM_BINDING_UQ ? "UQ" : "U");
	dm->objs.update_due = false;
	logf_(dm, LOG_INFO, "registered as %s at %s (lifetime %u s, binding %s%s) in %llu ms",
	      dm->cfg->dm.endpoint, dm->st.location, u->lt, dm->st.binding,
	      u->v10 ? ", LwM2M 1.0" : "", (unsigned long long)(m2m_now_ms() - u->t0));
	/* a new registration: the server has dropped our observations */
	lw_obs_clear(&dm->obs);
	dm->obs_dirty = true;
	back_online(dm);
	return reg_error(dm, M2M_OK, err);
}

/* The outcome of the Register under way, waited for (and of the 1.0 one it may lead to) */
static int finish_register(struct m2m_dm *dm, struct m2m_err *err)
{
	int rc;

	do {
		wait_answer(dm);
		rc = register_end(dm, err);
	} while (!rc && dm->upd.active);
	return rc;
}

static int do_register(struct m2m_dm *dm, unsigned timeout_ms, struct m2m_err *err)
{
	int rc = register_begin(dm, timeout_ms, LW_REG_FIRST, err);

	return rc ? rc : finish_register(dm, err);
}

/* How long a Register of --serve may take */
#define REGISTER_WAIT_MS 10000

/*
 * Update with only what changed. Started here, finished by update_end()
 * (mcoap_poll() says when), so that serving goes on while the server takes
 * its time.
 */
static int update_begin(struct m2m_dm *dm, unsigned timeout_ms, unsigned reg_timeout_ms,
			struct m2m_err *err)
{
	struct lw_update *u = &dm->upd;
	unsigned lt = dm->objs.lifetime_s, b = dm->objs.binding;
	bool again = u->rehandshook;
	int rc;

	if (b != dm->sent_binding && !dm->v10) {
		/*
		 * LwM2M 1.1 says queue mode by Q, a flag an Update cannot take back
		 * (TS Transport 6.4.3), and the binding itself (U) is the same: a
		 * new Register says it, either way
		 */
		logf_(dm, LOG_NOTICE, "queue mode %s: registering again to say so",
		      b == M2M_DM_BINDING_UQ ? "on" : "off");
		return register_begin(dm, reg_timeout_ms, LW_REG_404, err);
	}
	lw_buf_free(&u->links);
	memset(u, 0, sizeof(*u));
	u->rehandshook = again;
	u->kind = LW_UPDATE;
	lw_register_links(&dm->reg, &u->links);
	if (u->links.oom || !u->links.p) {
		lw_buf_free(&u->links);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	u->send_links = !dm->links[0] || strcmp((char *)u->links.p, dm->links) != 0;
	u->lt = lt;
	u->b = b;
	if (lt != dm->sent_lifetime)
		snprintf(u->query, sizeof(u->query), "lt=%u", lt);
	if (b != dm->sent_binding) /* LwM2M 1.0 (above for 1.1): queue mode is in the binding */
		snprintf(u->query + strlen(u->query), sizeof(u->query) - strlen(u->query),
			 "%sb=%s", u->query[0] ? "&" : "", b == M2M_DM_BINDING_UQ ? "UQ" : "U");
	u->timeout_ms = timeout_ms;
	u->reg_timeout_ms = reg_timeout_ms;
	rc = mcoap_start(dm->coap, M2M_COAP_POST, dm->st.location, u->query,
			 u->send_links ? LW_FMT_LINK : M2M_COAP_NONE, u->send_links ? u->links.p : NULL,
			 u->send_links ? u->links.len : 0, timeout_ms, err);
	if (rc) {
		lw_buf_free(&u->links);
		return reg_error(dm, rc, err);
	}
	u->active = true;
	return M2M_OK;
}

/* The Update's outcome; 4.04 means the server forgot us: *reregister, and a Register is due. */
static int update_end(struct m2m_dm *dm, bool *reregister, struct m2m_err *err)
{
	struct lw_update *u = &dm->upd;
	struct m2m_coap_msg resp;
	uint8_t *body = NULL;
	int rc = mcoap_finish(dm->coap, &resp, &body, err);

	*reregister = false;
	u->active = false;
	free(body);
	if (!rc && resp.code == LW_NOT_FOUND) {
		lw_buf_free(&u->links);
		logf_(dm, LOG_NOTICE, "Update: the server does not know %s: registering again",
		      dm->st.location);
		*reregister = true;
		return M2M_OK;
	}
	if (!rc && resp.code != LW_CHANGED)
		rc = answer_rc(resp.code, "Update", err);
	if (rc) {
		lw_buf_free(&u->links);
		return reg_error(dm, rc, err);
	}
	if (u->send_links)
		snprintf(dm->links, sizeof(dm->links), "%s", (char *)u->links.p);
	lw_buf_free(&u->links);
	dm->sent_lifetime = u->lt;
	dm->sent_binding = u->b;
	dm->st.registered_at = (uint64_t)time(NULL);
	dm->st.lifetime_s = u->lt;
	snprintf(dm->st.binding, sizeof(dm->st.binding), "%s",
		 u->b == M2M_DM_BINDING_UQ ? "UQ" : "U");
	dm->objs.update_due = false;
	logf_(dm, LOG_INFO, "updated %s%s%s", dm->st.location, u->query[0] ? " with " : "",
	      u->query[0] ? u->query : (u->send_links ? " with object links" : ""));
	back_online(dm);
	return reg_error(dm, M2M_OK, err);
}

/* An Update that waits for its outcome (a --report run has nothing else to do) */
static int do_update(struct m2m_dm *dm, unsigned timeout_ms, struct m2m_err *err)
{
	bool again;
	int rc = update_begin(dm, timeout_ms, timeout_ms, err);

	if (rc)
		return rc;
	if (dm->upd.kind != LW_UPDATE) /* a Register in its place */
		return finish_register(dm, err);
	wait_answer(dm);
	rc = update_end(dm, &again, err);
	return again ? do_register(dm, dm->upd.reg_timeout_ms, err) : rc;
}

/* Give what was just sent until `until` (monotonic) to be acknowledged. */
static void settle(struct m2m_dm *dm, uint64_t until)
{
	while (lw_obs_unconfirmed(&dm->obs) && !dm->obs.offline && m2m_now_ms() < until) {
		if (mcoap_idle(dm->coap)) {
			lw_obs_delivered(&dm->obs);
			break;
		}
		mcoap_process(dm->coap, 20);
	}
}

static int first_register(struct m2m_dm *dm, unsigned timeout_ms, struct m2m_err *err);

/*
 * Register, or Update a registration this device still has (also one of an
 * earlier run). Then the observations of that registration get what changed
 * since the last notification, after what was stored while the server was out
 * of reach; if it is out of reach now, what changed is stored.
 */
int m2m_dm_register(struct m2m_dm *dm, unsigned timeout_ms, struct m2m_err *err)
{
	uint64_t until = m2m_now_ms() + timeout_ms;
	int rc;

	abandon(dm);
	if (!dm->obs_loaded) {
		lw_dm_obs_load(dm);
		dm->obs_loaded = true;
	}
	rc = first_register(dm, timeout_ms, err);
	if (rc == M2M_ERR_UNREACHABLE || rc == M2M_ERR_TIMEOUT)
		dm->obs.offline = true;
	if (!rc || dm->obs.offline)
		obs_tick(dm);
	if (!rc)
		settle(dm, until);
	return rc;
}

static int first_register(struct m2m_dm *dm, unsigned timeout_ms, struct m2m_err *err)
{
	struct m2m_dm_state saved;
	char links[sizeof(dm->links)];

	if (dm->st.registered)
		return do_update(dm, timeout_ms, err);
	if (lw_dm_state_read(dm->cfg, &saved, links, sizeof(links), &dm->v10) == M2M_OK &&
	    saved.registered &&
	    strcmp(saved.endpoint, dm->cfg->dm.endpoint) == 0) {
		/* the links last sent decide whether the Update must carry them */
		memcpy(dm->links, links, sizeof(links));
		memcpy(dm->st.location, saved.location, sizeof(saved.location));
		dm->st.registered = true;
		dm->st.registered_at = saved.registered_at;
		dm->st.lifetime_s = saved.lifetime_s;
		memcpy(dm->st.binding, saved.binding, sizeof(saved.binding));
		dm->sent_lifetime = saved.lifetime_s;
		dm->sent_binding = strcmp(saved.binding, "UQ") == 0 ? M2M_DM_BINDING_UQ :
								    M2M_DM_BINDING_U;
		return do_update(dm, timeout_ms, err);
	}
	return do_register(dm, timeout_ms, err);
}

static uint64_t update_at(const struct m2m_dm *dm)
{
	unsigned lt = dm->st.lifetime_s, margin = lt / 4 < 60 ? lt / 4 : 60;

	return dm->st.registered_at + lt - margin;
}

/*
 * How long an Update of --serve waits for its answer: CoAP's own span, so
 * that one is not given up while libcoap still retransmits it (RFC 7252
 * MAX_TRANSMIT_WAIT, 93 s with libcoap's defaults; libcoap reports the end
 * of its retries first). Over DTLS the first try waits for two transmissions
 * only (ACK_TIMEOUT 2 s x 1.5 x (1 + 2)): a server that lost our session
 * drops every record without a word, and a new handshake is cheaper than a
 * minute and a half of silence; with a short lifetime, half an Update
 * interval, so that the new handshake is done within one (but never before
 * the first retransmission has had its chance, after 2 to 3 s).
 */
#define MAX_TRANSMIT_WAIT_MS 93000
#define DTLS_FIRST_WAIT_MS 9000

static unsigned update_wait_ms(const struct m2m_dm *dm)
{
	unsigned lt = dm->st.lifetime_s, interval_ms = (lt - (lt / 4 < 60 ? lt / 4 : 60)) * 1000;
	unsigned w = interval_ms / 2 < DTLS_FIRST_WAIT_MS ? interval_ms / 2 : DTLS_FIRST_WAIT_MS;

	if (!mcoap_dtls(dm->coap) || dm->upd.rehandshook)
		return MAX_TRANSMIT_WAIT_MS + 2000;
	return w < 3500 ? 3500 : w;
}

/* always-on: never give up, back off */
static void serve_update_failed(struct m2m_dm *dm, struct m2m_err *err)
{
	logf_(dm, LOG_WARNING, "%s", err->msg);
	dm->obs.offline = true;
	retry_later(dm);
}

/* An Update of serving failed (rc): a new handshake, or a new Register */
static void serve_update_retry(struct m2m_dm *dm, int rc, struct m2m_err *err)
{
	bool silent = rc == M2M_ERR_TIMEOUT || rc == M2M_ERR_UNREACHABLE;

	if (silent && mcoap_dtls(dm->coap) && !dm->upd.rehandshook) {
		logf_(dm, LOG_NOTICE, "%s: a new DTLS handshake, then the Update again", err->msg);
		dm->upd.rehandshook = true;
		if (mcoap_rehandshake(dm->coap, err) ||
		    update_begin(dm, update_wait_ms(dm), REGISTER_WAIT_MS, err))
			serve_update_failed(dm, err);
		return;
	}
	/* answered, but not as an LwM2M server should; or silent after a new handshake */
	logf_(dm, LOG_WARNING, "%s: registering again", err->msg);
	if (register_begin(dm, REGISTER_WAIT_MS, LW_REG_AGAIN, err))
		serve_update_failed(dm, err);
}

/* What serving had under way has its outcome */
static void serve_done(struct m2m_dm *dm, struct m2m_err *err)
{
	bool again = false;
	int rc;

	switch (dm->upd.kind) {
	case LW_REG_FIRST:
		/* not registered yet (the server was out of reach at start): keep trying */
		if (register_end(dm, err)) {
			logf_(dm, LOG_WARNING, "%s", err->msg);
			retry_later(dm);
		}
		return;
	case LW_REG_AGAIN:
		if (register_end(dm, err))
			serve_update_failed(dm, err);
		return;
	case LW_REG_404:
		/* the Update's outcome */
		rc = register_end(dm, err);
		break;
	case LW_UPDATE:
	default:
		rc = update_end(dm, &again, err);
		if (again &&
		    !(rc = register_begin(dm, dm->upd.reg_timeout_ms, LW_REG_404, err)))
			return;
	}
	if (rc)
		serve_update_retry(dm, rc, err);
}

/*
 * How long the caller may wait for the descriptor before the next step.
 * An exchange under way has deadlines of its own (a DTLS handshake's, too,
 * without a datagram to tell it), and so has what the objects have under way
 * (the update engine's worker, a hook): then every SERVE_TICK_MS. Observed
 * values are sampled (a change, gt, lt, st: every LW_OBS_SAMPLE_MS once pmin
 * is over; pmax when due). Otherwise until the Update is due or the next try,
 * but a second at most: the wall clock the lifetime counts in may jump, and
 * a stop flag set by a signal that came just before the wait (and so did not
 * cut it short) is seen then. libcoap's own timers (retransmissions) wake
 * the descriptor.
 */
#define SERVE_TICK_MS 50
#define SERVE_IDLE_MS 1000

static unsigned serve_next_ms(struct m2m_dm *dm)
{
	uint64_t now = m2m_now_ms(), next = SERVE_IDLE_MS, due;
	struct timespec ts;

	if (dm->upd.active || lw_obs_unconfirmed(&dm->obs) || lw_objects_busy(&dm->objs) ||
	    mcoap_fd(dm->coap) < 0)
		return SERVE_TICK_MS;
	due = lw_obs_next_ms(&dm->obs, &dm->reg, dm->objs.dflt_pmin, dm->objs.dflt_pmax);
	if (due < next)
		next = due;
	if (dm->obs_dirty && dm->obs_loaded) {
		due = dm->obs_saved_at + 1000;
		next = due <= now ? 0 : due - now < next ? due - now : next;
	}
	if (!dm->st.registered || dm->obs.offline) {
		due = dm->retry_at;
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		due = update_at(dm) * 1000;
		now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		if (dm->objs.update_due)
			due = now;
	}
	next = due <= now ? 0 : due - now < next ? due - now : next;
	/* a deadline just passed is acted on by the step: no busy loop if it was not */
	return next ? (unsigned)next : 1;
}

/* A step; ready: what came was handled already (the caller's wait was libcoap's) */
static void serve_step(struct m2m_dm *dm, bool ready, unsigned *next_ms, struct m2m_err *err)
{
	if (!ready)
		mcoap_process_ready(dm->coap);
	if (mcoap_idle(dm->coap))
		lw_obs_delivered(&dm->obs);
	lw_objects_run_hooks(&dm->objs);
	obs_tick(dm);
	if (dm->obs_dirty && m2m_now_ms() - dm->obs_saved_at >= 1000)
		lw_dm_obs_save(dm);
	if (dm->upd.active) {
		if (mcoap_poll(dm->coap))
			serve_done(dm, err);
	} else if (!dm->st.registered) {
		/* not registered yet (the server was out of reach at start): keep trying */
		if (!dm->retry_at) {
			retry_later(dm);
		} else if (m2m_now_ms() >= dm->retry_at &&
			   register_begin(dm, REGISTER_WAIT_MS, LW_REG_FIRST, err)) {
			logf_(dm, LOG_WARNING, "%s", err->msg);
			retry_later(dm);
		}
	} else if (dm->obs.offline ? m2m_now_ms() >= dm->retry_at :
				     dm->objs.update_due || (uint64_t)time(NULL) >= update_at(dm)) {
		/* due, or out of reach (an Update or a notification failed): try again */
		dm->upd.rehandshook = false;
		if (update_begin(dm, update_wait_ms(dm), REGISTER_WAIT_MS, err))
			serve_update_failed(dm, err);
	}
	*next_ms = serve_next_ms(dm);
}

int m2m_dm_serve_step(struct m2m_dm *dm, unsigned *next_ms, struct m2m_err *err)
{
	if (!dm || !next_ms)
		return m2m_err_set(err, M2M_ERR_USAGE, "m2m_dm_serve_step: no handle or no next_ms");
	serve_step(dm, false, next_ms, err);
	return M2M_OK;
}

int m2m_dm_fd(const struct m2m_dm *dm)
{
	return mcoap_fd(dm->coap);
}

/*
 * The application's loop, run here: the step taken, then a wait as long as
 * the step allows (a signal cuts it short: epoll_wait is never restarted,
 * whatever SA_RESTART says; one that came just before it is seen within
 * SERVE_IDLE_MS). The wait is libcoap's (epoll_wait on its descriptor), and what came is handled in
 * the same call: a poll() of the descriptor first, then libcoap's epoll_wait
 * without waiting, cost a system call more a datagram (one of the 7 a block
 * of a push cost; the others: libcoap's timer set twice, its epoll_wait, the
 * two datagrams and the block's write).
 */
int m2m_dm_serve(struct m2m_dm *dm, unsigned ms, volatile const int *stop, struct m2m_err *err)
{
	return lw_dm_serve(dm, ms, stop, false, NULL, err);
}

/*
 * A report run serves on past its window while a renewal the server ordered
 * runs, up to the run's end (which the renewal holds to as well): the run
 * waits for it anyway, and the server can read what came of it.
 */
static uint64_t serve_until(const struct m2m_dm *dm, uint64_t end)
{
	uint64_t run_end = dm->objs.run_end_ms;

	return run_end > end && lw_objects_renewing(&dm->objs) ? run_end : end;
}

int lw_dm_serve(struct m2m_dm *dm, unsigned ms, volatile const int *stop, bool reconf,
		enum lw_serve_end *why, struct m2m_err *err)
{
	uint64_t end = m2m_now_ms() + ms, now, until;
	unsigned next;
	bool ready = false;

	if (why)
		*why = LW_SERVE_DONE;
	while (!(stop && *stop) && (!ms || m2m_now_ms() < serve_until(dm, end))) {
		serve_step(dm, ready, &next, err);
		/* the Wipe's answer went out in the step that took it; it comes before a new config */
		if (why && dm->objs.wipe_due) {
			*why = LW_SERVE_WIPE;
			break;
		}
		if (why && reconf && lw_objects_reconfigured(&dm->objs)) {
			*why = LW_SERVE_RECONF;
			break;
		}
		now = m2m_now_ms();
		until = serve_until(dm, end);
		if (ms && (now >= until || until - now < next))
			next = now >= until ? 0 : (unsigned)(until - now);
		if (stop && *stop)
			break;
		mcoap_process(dm->coap, next ? next : 1);
		ready = true;
	}
	/* stopped with an Update or a Register under way: its answer is not waited for */
	abandon(dm);
	lw_objects_run_hooks(&dm->objs);
	return M2M_OK;
}

int m2m_dm_deregister(struct m2m_dm *dm, unsigned timeout_ms, struct m2m_err *err)
{
	struct m2m_coap_msg resp;
	uint8_t *body = NULL;
	int rc;

	abandon(dm);
	if (!dm->st.registered)
		return M2M_OK;
	rc = mcoap_request(dm->coap, M2M_COAP_DELETE, dm->st.location, NULL, M2M_COAP_NONE,
			      NULL, 0, timeout_ms, &resp, &body, err);
	free(body);
	if (!rc && resp.code != LW_DELETED && resp.code != LW_NOT_FOUND)
		rc = answer_rc(resp.code, "De-register", err);
	if (!rc) {
		logf_(dm, LOG_INFO, "de-registered %s", dm->st.location);
		lw_obs_clear(&dm->obs);
		dm->obs_dirty = true;
		dm->st.registered = false;
		dm->st.location[0] = 0;
		dm->st.registered_at = 0;
	}
	return reg_error(dm, rc, err);
}

/* SPDX-License-Identifier: MIT */
/*
 * The always-on supervisor. charon's own policies (DPD restart, close action,
 * keyingtries 0) cover timeouts, but after a hard error (NO_PROPOSAL_CHOSEN
 * from a gateway whose config is not loaded yet, AUTHENTICATION_FAILED) charon
 * stops for good. This loop notices (VICI ike-updown/child-updown events, and a
 * slow poll as a safety net) and initiates again, with a backoff chosen by the
 * failure class: short for network trouble, long and capped for
 * authentication, so a gateway never locks an account through our retries.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/vpn.h"
#include "vici/vici.h"
#include "vpn/vpn_int.h"

#define POLL_UP_MS 5000        /* re-check a tunnel that is up */
#define POLL_CONNECTING_MS 1000
#define EVENT_SETTLE_MS 300    /* let charon's own restart start before we look */

struct watched {
	const struct m2m_vpn_profile *p;
	int lock;
	unsigned fails;
	uint64_t next;
	enum m2m_vpn_state last;
	int last_rc;
};

struct watch {
	const struct m2m_config *cfg;
	struct watched *w;
	size_t n;
	m2m_log_fn log;
	void *log_ctx;
	struct vici_conn *ev;
	uint64_t ev_retry;
	bool ev_lost;
	volatile const int *stop;
};

#define WLOG(wa, prio, ...)                                                   \
	do {                                                                  \
		if ((wa)->log)                                                \
			(wa)->log((wa)->log_ctx, prio, __VA_ARGS__);          \
	} while (0)

static bool auth_class(int rc)
{
	return rc == M2M_ERR_AUTH_LOCAL || rc == M2M_ERR_AUTH_REMOTE || rc == M2M_ERR_CREDENTIAL ||
	       rc == M2M_ERR_CLOCK || rc == M2M_ERR_PIN_LOCKOUT || rc == M2M_ERR_CONFIG;
}

static void on_event(void *ctx, const char *event, const struct vici_node *msg)
{
	struct watch *wa = ctx;
	uint64_t soon = m2m_now_ms() + EVENT_SETTLE_MS;

	/*
	 * The body is {<ike name>: {...}}; wake the profile it names, unless it is
	 * backing off after a failure: the events of our own failed attempts must
	 * not cut the backoff short.
	 */
	for (const struct vici_node *n = msg->child; n; n = n->next) {
		for (size_t i = 0; i < wa->n; i++) {
			char name[64];

			snprintf(name, sizeof(name), "m2m-%s", wa->w[i].p->name);
			if (n->name && strcmp(n->name, name) == 0 && wa->w[i].fails == 0 &&
			    wa->w[i].next > soon)
				wa->w[i].next = soon;
		}
	}
	(void)event;
}

static void events_connect(struct watch *wa)
{
	const char *uri = wa->cfg->charon.vici ? wa->cfg->charon.vici : M2M_VICI_DEFAULT_URI;
	struct m2m_err err;

	if (wa->ev || m2m_now_ms() < wa->ev_retry)
		return;
	if (vici_connect(&wa->ev, uri, &err) || vici_register(wa->ev, "ike-updown", 2000, &err) ||
	    vici_register(wa->ev, "child-updown", 2000, &err)) {
		vici_close(wa->ev);
		wa->ev = NULL;
		wa->ev_retry = m2m_now_ms() + 2000;
		return;
	}
	if (wa->ev_lost) {
		/* charon is back: whatever backed off while it was gone tries now */
		wa->ev_lost = false;
		for (size_t i = 0; i < wa->n; i++) {
			wa->w[i].fails = 0;
			wa->w[i].next = m2m_now_ms();
		}
	}
}

static void step(struct watch *wa, struct m2m_vpn *vpn, struct watched *w)
{
	const struct m2m_vpn_profile *p = w->p;
	struct m2m_vpn_status st;
	struct m2m_err err;
	uint64_t now = m2m_now_ms();
	unsigned delay;
	int rc;

	m2m_err_clear(&err);
	rc = m2m_vpn_status(vpn, p->name, &st, &err);
	/* in every state: a flushed rule set must not open a gap while charon reconnects */
	if (!rc && p->fail_closed && !st.guard_active) {
		if (vpn_guard_enable(wa->cfg, p, &err) == M2M_OK)
			WLOG(wa, LOG_WARNING, "%s: fail-closed guard was gone; put back", p->name);
		else
			WLOG(wa, LOG_ERR, "%s: %s", p->name, err.msg);
	}
	if (!rc && st.state == M2M_VPN_STATE_UP) {
		if (w->last != M2M_VPN_STATE_UP)
			WLOG(wa, LOG_NOTICE, "%s: up, %s -> %s%s%s", p->name, st.local_host,
			     st.remote_host, st.n_vips ? ", virtual IP " : "", st.n_vips ? st.vips[0] : "");
		w->last = M2M_VPN_STATE_UP;
		w->fails = 0;
		w->last_rc = 0;
		w->next = now + POLL_UP_MS;
		return;
	}
	if (!rc && st.state == M2M_VPN_STATE_CONNECTING) {
		/* charon is retrying by itself (DPD restart, keyingtries 0) */
		if (w->last == M2M_VPN_STATE_UP)
			WLOG(wa, LOG_WARNING, "%s: tunnel lost; charon is reconnecting", p->name);
		w->last = M2M_VPN_STATE_CONNECTING;
		w->next = now + POLL_CONNECTING_MS;
		return;
	}
	if (rc == M2M_OK) {
		if (w->last == M2M_VPN_STATE_UP)
			WLOG(wa, LOG_WARNING, "%s: tunnel down; reconnecting", p->name);
		w->last = M2M_VPN_STATE_DOWN;
		rc = m2m_vpn_up(vpn, p->name, 0, &st, &err);
	}
	if (rc && wa->stop && *wa->stop)
		return; /* interrupted by the stop request: not a failure to report */
	if (rc == M2M_OK) {
		WLOG(wa, LOG_NOTICE, "%s: up, %s -> %s%s%s", p->name, st.local_host, st.remote_host,
		     st.n_vips ? ", virtual IP " : "", st.n_vips ? st.vips[0] : "");
		w->last = M2M_VPN_STATE_UP;
		w->fails = 0;
		w->last_rc = 0;
		w->next = m2m_now_ms() + POLL_UP_MS;
		return;
	}
	delay = m2m_backoff_ms(auth_class(rc) ? &p->retry_auth : &p->retry_network, w->fails);
	w->fails++;
	/* say it once per kind of failure, then quietly at debug level */
	WLOG(wa, rc != w->last_rc ? LOG_ERR : LOG_DEBUG, "%s: %s; next try in %.1f s", p->name, err.msg,
	     delay / 1000.0);
	w->last_rc = rc;
	w->last = M2M_VPN_STATE_DOWN;
	w->next = m2m_now_ms() + delay;
}

static int take_locks(struct watch *wa, struct m2m_err *err)
{
	int rc = m2m_mkdir_private(vpn_state_dir(wa->cfg), err);

	for (size_t i = 0; !rc && i < wa->n; i++) {
		char path[PATH_MAX];

		vpn_watch_lock_path(wa->cfg, wa->w[i].p->name, path, sizeof(path));
		rc = m2m_lock(path, 0, &wa->w[i].lock, err);
		if (rc == M2M_ERR_BUSY)
			m2m_err_set(err, rc, "profile %s is already supervised by another watch",
				    wa->w[i].p->name);
	}
	return rc;
}

int m2m_vpn_watch(const struct m2m_config *cfg, const char *const *profiles,
		  volatile const int *stop, m2m_log_fn log, void *log_ctx, struct m2m_err *err)
{
	struct watch wa = { .cfg = cfg, .log = log, .log_ctx = log_ctx, .stop = stop };
	struct m2m_vpn *vpn = NULL;
	int rc = M2M_OK;

	wa.w = calloc(cfg->n_profiles ? cfg->n_profiles : 1, sizeof(*wa.w));
	if (!wa.w)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	if (profiles && profiles[0]) {
		for (const char *const *n = profiles; *n; n++) {
			const struct m2m_vpn_profile *p = m2m_config_profile(cfg, *n);

			if (!p) {
				rc = m2m_err_set(err, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", *n,
						 cfg->path ? cfg->path : "the configuration");
				goto out;
			}
			if (wa.n < cfg->n_profiles)
				wa.w[wa.n++] = (struct watched){ .p = p, .lock = -1 };
		}
	} else {
		for (size_t i = 0; i < cfg->n_profiles; i++)
			if (cfg->profiles[i].mode == M2M_VPN_ALWAYS_ON)
				wa.w[wa.n++] = (struct watched){ .p = &cfg->profiles[i], .lock = -1 };
	}
	if (wa.n == 0) {
		rc = m2m_err_set(err, M2M_ERR_CONFIG, "%s: no always-on VPN profile to watch",
				 cfg->path ? cfg->path : "configuration");
		goto out;
	}
	rc = take_locks(&wa, err);
	if (rc)
		goto out;
	rc = m2m_vpn_open(cfg, &vpn, err);
	if (rc)
		goto out;
	m2m_vpn_set_log(vpn, log, log_ctx);
	m2m_vpn_set_cancel(vpn, stop);
	/* hold protected traffic from the first moment, before any tunnel exists */
	for (size_t i = 0; i < wa.n; i++) {
		if (!wa.w[i].p->fail_closed)
			continue;
		rc = vpn_guard_enable(cfg, wa.w[i].p, err);
		if (rc)
			goto out;
		WLOG(&wa, LOG_INFO, "%s: fail-closed guard in place", wa.w[i].p->name);
	}
	WLOG(&wa, LOG_INFO, "supervising %zu profile%s", wa.n, wa.n == 1 ? "" : "s");

	while (!*stop) {
		uint64_t now = m2m_now_ms(), next = now + POLL_UP_MS;
		struct pollfd pfd;
		int wait;

		events_connect(&wa);
		for (size_t i = 0; i < wa.n && !*stop; i++)
			if (wa.w[i].next <= m2m_now_ms())
				step(&wa, vpn, &wa.w[i]);
		for (size_t i = 0; i < wa.n; i++)
			if (wa.w[i].next < next)
				next = wa.w[i].next;
		now = m2m_now_ms();
		wait = next > now ? (int)(next - now) : 0;
		if (wait > 250)
			wait = 250; /* stay responsive to the stop flag */
		if (!wa.ev) {
			m2m_sleep_ms((unsigned)wait, stop);
			continue;
		}
		pfd.fd = vici_fd(wa.ev);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, wait) > 0) {
			struct m2m_err e;

			if (vici_wait_event(wa.ev, on_event, &wa, 1000, &e) != M2M_OK &&
			    e.rc != M2M_ERR_TIMEOUT) {
				/* charon went away: reconnect later, check everything now */
				WLOG(&wa, LOG_WARNING, "lost charon's event stream: %s", e.msg);
				vici_close(wa.ev);
				wa.ev = NULL;
				wa.ev_lost = true;
				wa.ev_retry = m2m_now_ms() + 1000;
				for (size_t i = 0; i < wa.n; i++)
					wa.w[i].next = m2m_now_ms() + EVENT_SETTLE_MS;
			}
		}
	}
	WLOG(&wa, LOG_INFO, "stopping; tunnels and fail-closed guards stay as they are");
	rc = M2M_OK;
out:
	vici_close(wa.ev);
	m2m_vpn_close(vpn);
	for (size_t i = 0; i < wa.n; i++)
		m2m_unlock(wa.w[i].lock);
	free(wa.w);
	return rc;
}

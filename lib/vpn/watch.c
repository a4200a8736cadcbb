/* SPDX-License-Identifier: MIT */
/*
 * The always-on supervisor. charon's own policies (DPD restart, close action,
 * keyingtries 0) cover timeouts, but after a hard error (NO_PROPOSAL_CHOSEN
 * from a gateway whose config is not loaded yet, AUTHENTICATION_FAILED) charon
 * stops for good. This loop notices (VICI ike-updown/child-updown events, and a
 * slow poll as a safety net) and initiates again, with a backoff chosen by the
 * failure class: short for network trouble, long and capped for
 * authentication, so a gateway never locks an account through our retries.
 *
 * It runs in the application's own poll loop: m2m_vpn_watch_step() does what
 * is due and returns. What may wait long (an initiate waits for the CHILD SA,
 * credentials come from a TPM or token, every request waits for charon's
 * answer) runs as one job at a time on a helper thread of the handle, the way
 * libcurl resolves names; the step hands out the jobs, reads charon's events
 * and delivers the job's log lines, so the caller's log callback only ever
 * runs on the caller's thread. One epoll fd stands for all of it: the event
 * connection to charon (re-made when charon restarts), the helper's "done"
 * eventfd and a timerfd for the next due time.
 *
 * Liveness: charon says an IKE SA is ESTABLISHED for as long as it has not
 * given up on it, also while the gateway leaves every DPD and MOBIKE request
 * unanswered. After an outage longer than the gateway's DPD the gateway has
 * deleted the SA, and charon then probes the returned path ten times, 2.5 s
 * apart (hard-coded in charon), before it starts over: 28 s without traffic.
 * So the step also reads charon's log stream for our IKE SAs: a request left
 * unanswered (retransmits, a deferred MOBIKE update: no route) makes the
 * profile "unconfirmed" (logged, and kept in the state directory for
 * "status"); an answer confirms it again. When charon can send again after
 * having had no path, the gateway gets retry.network's first step to answer;
 * if it does not, the old IKE SA is dropped and a new one initiated.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/vpn.h"
#include "net/net.h"
#include "vici/vici.h"
#include "vpn/vpn_int.h"
#include "vpn/watch_int.h"

#define POLL_UP_MS 5000        /* re-check a tunnel that is up */
#define POLL_CONNECTING_MS 1000
#define EVENT_SETTLE_MS 300    /* let charon's own restart start before we look */
#define EVENT_READ_MS 100      /* a step reads charon's events for at most this long */
#define STOP_SLICE_MS 250      /* m2m_vpn_watch(): how late it may see *stop */
#define EVENTS_CONNECT_MS 1000 /* connecting the event stream, all registrations included */

/* ---- log lines: the helper queues, the caller's thread delivers ---------- */

static bool on_helper(const struct m2m_vpn_watch *wa)
{
	return wa->thread_started && pthread_equal(pthread_self(), wa->thread);
}

static void poke(const struct m2m_vpn_watch *wa)
{
	uint64_t one = 1;

	if (write(wa->wake, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the step will run anyway */
	}
}

static void vqueue(struct m2m_vpn_watch *wa, int prio, const char *fmt, va_list ap)
{
	char buf[1024];
	struct logline *l;
	size_t len;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	len = strlen(buf);
	l = malloc(sizeof(*l) + len + 1);
	if (!l)
		return;
	l->next = NULL;
	l->prio = prio;
	memcpy(l->msg, buf, len + 1);
	pthread_mutex_lock(&wa->mu);
	*wa->q_tail = l;
	wa->q_tail = &l->next;
	pthread_mutex_unlock(&wa->mu);
	poke(wa);
}

/* The helper's m2m_vpn handle logs here (m2m_vpn_set_log). */
static void queue_log(void *ctx, int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vqueue(ctx, prio, fmt, ap);
	va_end(ap);
}

void vpn_wlog(struct m2m_vpn_watch *wa, int prio, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!wa->log)
		return;
	va_start(ap, fmt);
	if (on_helper(wa)) {
		vqueue(wa, prio, fmt, ap);
	} else {
		vsnprintf(buf, sizeof(buf), fmt, ap);
		wa->log(wa->log_ctx, prio, "%s", buf);
	}
	va_end(ap);
}

/* Hand the helper's lines to the caller's log callback, in order. */
static void deliver_logs(struct m2m_vpn_watch *wa)
{
	struct logline *l, *next;

	pthread_mutex_lock(&wa->mu);
	l = wa->q;
	wa->q = NULL;
	wa->q_tail = &wa->q;
	pthread_mutex_unlock(&wa->mu);
	for (; l; l = next) {
		next = l->next;
		if (wa->log)
			wa->log(wa->log_ctx, l->prio, "%s", l->msg);
		free(l);
	}
}

/* ---- what the helper does ------------------------------------------------ */

static bool auth_class(int rc)
{
	return rc == M2M_ERR_AUTH_LOCAL || rc == M2M_ERR_AUTH_REMOTE || rc == M2M_ERR_CREDENTIAL ||
	       rc == M2M_ERR_CLOCK || rc == M2M_ERR_PIN_LOCKOUT || rc == M2M_ERR_CONFIG;
}

static void events_connect(struct m2m_vpn_watch *wa)
{
	const char *uri = wa->cfg->charon.vici ? wa->cfg->charon.vici : M2M_VICI_DEFAULT_URI;
	uint64_t until = m2m_now_ms() + EVENTS_CONNECT_MS;
	struct m2m_err err;
	int rc;

	if (wa->ev || m2m_now_ms() < wa->ev_retry)
		return;
	/* a charon that does not answer holds the helper, and so the profiles, this long at most */
	rc = vici_connect_within(&wa->ev, uri, EVENTS_CONNECT_MS, NULL, &err);
	if (!rc) {
		vici_set_cancel(wa->ev, &wa->closing);
		rc = vici_register(wa->ev, "ike-updown", vpn_remaining(until), &err);
	}
	if (!rc)
		rc = vici_register(wa->ev, "child-updown", vpn_remaining(until), &err);
	/* MOBIKE updates, and charon's log lines: how the gateway answers (see the top) */
	if (!rc)
		rc = vici_register(wa->ev, "ike-update", vpn_remaining(until), &err);
	if (!rc)
		rc = vici_register(wa->ev, "log", vpn_remaining(until), &err);
	if (rc) {
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

/*
 * Drop an IKE SA the gateway no longer knows: force, so charon does not wait
 * for the DELETE's answer that cannot come.
 */
static void drop_ike_sa(struct m2m_vpn_watch *wa, unsigned ike_id)
{
	struct vici_node *resp = NULL;
	struct m2m_err ignore;
	struct vici_buf b;

	vici_buf_init(&b);
	vici_add_kvf(&b, "ike-id", "%u", ike_id);
	vici_add_kvs(&b, "force", "yes");
	vici_add_kvs(&b, "timeout", "50"); /* then destroyed: a path probe holds the DELETE back */
	vici_add_kvs(&b, "loglevel", "-1");
	if (vpn_request(wa->vpn, "terminate", &b, &resp, NULL, NULL, 1000, &ignore) != M2M_OK)
		WLOG(wa, LOG_DEBUG, "terminate IKE SA #%u: %s", ike_id, ignore.msg);
	vici_buf_free(&b);
	vici_node_free(resp);
}

static void check(struct m2m_vpn_watch *wa, struct watched *w)
{
	const struct m2m_vpn_profile *p = w->p;
	struct m2m_vpn *vpn = wa->vpn;
	struct m2m_vpn_status st;
	struct m2m_err err;
	uint64_t now = m2m_now_ms();
	/* a whole check, the look at the state included, within the profile's time limit */
	uint64_t deadline = now + (p->timeout_ms ? p->timeout_ms : 30000);
	uint64_t outer = vpn_limit_push(vpn, deadline);
	unsigned delay;
	int rc;

	m2m_err_clear(&err);
	if (w->restart) {
		int left;

		/* w[] is the helper's while the job runs: the step set this before */
		vpn->limit = outer;
		w->restart = false;
		WLOG(wa, LOG_WARNING,
		     "%s: the gateway did not answer on the returned path; it has dropped our IKE SA: "
		     "starting a new one", p->name);
		drop_ike_sa(wa, w->ike_id);
		/* should the old SA outlive this, the gateway gets another step to answer */
		w->path_back = m2m_now_ms();
		left = vpn_remaining(deadline);
		rc = m2m_vpn_up(vpn, p->name, left > 0 ? (unsigned)left : 1, &st, &err);
		goto initiated;
	}
	/* the guards are the step's (vpn_keep_guards), in every state of the tunnel */
	rc = m2m_vpn_status(vpn, p->name, &st, &err);
	vpn->limit = outer;
	if (!rc && st.state == M2M_VPN_STATE_UNCONFIRMED) {
		/* the step follows the gateway's answers and decides when to start over */
		w->next = now + POLL_CONNECTING_MS;
		return;
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
		int left = vpn_remaining(deadline);

		if (w->last == M2M_VPN_STATE_UP)
			WLOG(wa, LOG_WARNING, "%s: tunnel down; reconnecting", p->name);
		w->last = M2M_VPN_STATE_DOWN;
		rc = m2m_vpn_up(vpn, p->name, left > 0 ? (unsigned)left : 1, &st, &err);
	}
initiated:
	if (rc && wa->closing)
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
	WLOG(wa, rc != w->last_rc ? LOG_ERR : LOG_DEBUG, "%s: %s; next try in %.1f s", p->name,
	     vpn_unprefixed(p->name, err.msg), delay / 1000.0);
	w->last_rc = rc;
	w->last = M2M_VPN_STATE_DOWN;
	w->next = m2m_now_ms() + delay;
}

/*
 * One job at a time. While it runs the step touches neither w[] nor the
 * event connection; the mutex around job_done hands them back.
 */
static void *helper(void *arg)
{
	struct m2m_vpn_watch *wa = arg;

	pthread_mutex_lock(&wa->mu);
	for (;;) {
		enum job job;
		size_t idx;

		while (!wa->quit && (wa->job == JOB_NONE || wa->job_done))
			pthread_cond_wait(&wa->cv, &wa->mu);
		if (wa->quit)
			break;
		job = wa->job;
		idx = wa->job_idx;
		pthread_mutex_unlock(&wa->mu);
		if (job == JOB_EVENTS)
			events_connect(wa);
		else
			check(wa, &wa->w[idx]);
		pthread_mutex_lock(&wa->mu);
		wa->job_done = true;
		poke(wa);
	}
	pthread_mutex_unlock(&wa->mu);
	return NULL;
}

/* ---- the caller's side --------------------------------------------------- */

static struct watched *watched_by_ike(struct m2m_vpn_watch *wa, const char *ike)
{
	char name[64];

	if (!ike)
		return NULL;
	for (size_t i = 0; i < wa->n; i++) {
		vpn_conn_name(wa->w[i].p->name, name, sizeof(name));
		if (strcmp(ike, name) == 0)
			return &wa->w[i];
	}
	return NULL;
}

static void on_event(void *ctx, const char *event, const struct vici_node *msg)
{
	struct m2m_vpn_watch *wa = ctx;
	uint64_t soon = m2m_now_ms() + EVENT_SETTLE_MS;
	struct watched *w;

	if (strcmp(event, "log") == 0) {
		const char *line = vici_find_str(msg, "msg");
		const char *id = vici_find_str(msg, "ikesa-uniqueid");

		w = watched_by_ike(wa, vici_find_str(msg, "ikesa-name"));
		if (w && line && id)
			vpn_live_log(wa, w, (unsigned)strtoul(id, NULL, 10), line);
		return;
	}
	/*
	 * The body is {<ike name>: {...}}; wake the profile it names, unless it is
	 * backing off after a failure: the events of our own failed attempts must
	 * not cut the backoff short.
	 */
	for (const struct vici_node *n = msg->child; n; n = n->next) {
		w = n->type == VICI_NODE_SECTION ? watched_by_ike(wa, n->name) : NULL;
		if (!w)
			continue;
		if (strcmp(event, "ike-update") == 0 ||
		    (strcmp(event, "ike-updown") == 0 && vici_find_yes(msg, "up"))) {
			/* a MOBIKE update answered, or a new IKE SA up */
			const char *id = vici_find_str(n, "uniqueid");

			vpn_live_confirmed(wa, w, event);
			if (id)
				w->ike_id = (unsigned)strtoul(id, NULL, 10);
		} else if (strcmp(event, "ike-updown") == 0) {
			/* that SA is gone: its silence no longer says anything */
			vpn_live_forget(wa, w);
		}
		if (strcmp(event, "ike-update") == 0)
			continue;
		if (w->fails == 0 && w->next > soon)
			w->next = soon;
	}
}

/* The event connection is in the epoll set exactly while no job runs. */
static int arm_events(struct m2m_vpn_watch *wa, bool on, struct m2m_err *err)
{
	int fd = on && wa->ev ? vici_fd(wa->ev) : -1;
	struct epoll_event ee = { .events = EPOLLIN };

	if (fd == wa->ev_armed)
		return M2M_OK;
	if (wa->ev_armed >= 0)
		epoll_ctl(wa->epfd, EPOLL_CTL_DEL, wa->ev_armed, NULL);
	wa->ev_armed = -1;
	if (fd < 0)
		return M2M_OK;
	ee.data.fd = fd;
	if (epoll_ctl(wa->epfd, EPOLL_CTL_ADD, fd, &ee) < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "epoll_ctl: %s", strerror(errno));
	wa->ev_armed = fd;
	return M2M_OK;
}

static void events_lost(struct m2m_vpn_watch *wa, const struct m2m_err *e)
{
	/* charon went away: reconnect later, check everything now */
	WLOG(wa, LOG_WARNING, "lost charon's event stream: %s", e->msg);
	arm_events(wa, false, NULL);
	vici_close(wa->ev);
	wa->ev = NULL;
	wa->ev_lost = true;
	wa->ev_retry = m2m_now_ms() + 1000;
	for (size_t i = 0; i < wa->n; i++)
		wa->w[i].next = m2m_now_ms() + EVENT_SETTLE_MS;
}

/* Whatever charon sent, for at most about EVENT_READ_MS (a packet cut short waits that long). */
static void read_events(struct m2m_vpn_watch *wa)
{
	uint64_t until = m2m_now_ms() + EVENT_READ_MS;

	while (wa->ev) {
		struct pollfd pfd = { .fd = vici_fd(wa->ev), .events = POLLIN };
		int left = (int)(until > m2m_now_ms() ? until - m2m_now_ms() : 0);
		struct m2m_err e;

		if (left == 0 || (!vici_pending(wa->ev) && poll(&pfd, 1, 0) <= 0))
			return;
		/* a time limit in the middle of a packet leaves the stream out of step: lost too */
		if (vici_wait_event(wa->ev, on_event, wa, left, &e) != M2M_OK &&
		    (e.rc != M2M_ERR_TIMEOUT || vici_broken(wa->ev)))
			events_lost(wa, &e);
	}
}

static void start_job(struct m2m_vpn_watch *wa, enum job job, size_t idx)
{
	pthread_mutex_lock(&wa->mu);
	wa->job = job;
	wa->job_idx = idx;
	wa->job_done = false;
	pthread_cond_signal(&wa->cv);
	pthread_mutex_unlock(&wa->mu);
}

/*
 * The next thing due, in the order of a round: each profile, then the event
 * stream (a charon that does not answer must not delay the first attempt).
 */
static bool next_job(struct m2m_vpn_watch *wa, uint64_t now)
{
	for (size_t k = 0; k < wa->n; k++) {
		size_t i = (wa->cursor + k) % wa->n;

		if (wa->w[i].next <= now) {
			wa->cursor = (i + 1) % wa->n;
			start_job(wa, JOB_PROFILE, i);
			return true;
		}
	}
	if (!wa->ev && now >= wa->ev_retry) {
		start_job(wa, JOB_EVENTS, 0);
		return true;
	}
	return false;
}

static void set_timer(struct m2m_vpn_watch *wa, unsigned ms)
{
	/* an all-zero it_value disarms: "now" is one nanosecond */
	struct itimerspec its = { .it_value = { .tv_sec = ms / 1000,
						.tv_nsec = (long)(ms % 1000) * 1000000 + (ms ? 0 : 1) } };

	timerfd_settime(wa->timer, 0, &its, NULL);
}

int m2m_vpn_watch_step(struct m2m_vpn_watch *wa, unsigned *next_ms, struct m2m_err *err)
{
	uint64_t now, next, drain, due;
	bool busy;
	int rc;

	*next_ms = POLL_UP_MS;
	/* read the wake-ups first: one that comes after is for the next step */
	if (read(wa->wake, &drain, sizeof(drain)) < 0 && errno != EAGAIN)
		return m2m_err_set(err, M2M_ERR_FAILURE, "eventfd: %s", strerror(errno));
	if (read(wa->timer, &drain, sizeof(drain)) < 0 && errno != EAGAIN)
		return m2m_err_set(err, M2M_ERR_FAILURE, "timerfd: %s", strerror(errno));
	pthread_mutex_lock(&wa->mu);
	busy = wa->job != JOB_NONE && !wa->job_done;
	if (!busy)
		wa->job = JOB_NONE;
	pthread_mutex_unlock(&wa->mu);
	vpn_keep_guards(wa, wa->nftmon >= 0 && net_nft_monitor_drain(wa->nftmon));
	deliver_logs(wa);
	if (busy) {
		/* the helper's eventfd wakes the caller when it is done; the guards' next look before */
		set_timer(wa, vpn_guard_due(wa));
		return M2M_OK;
	}

	rc = arm_events(wa, true, err);
	if (rc)
		return rc;
	read_events(wa);
	now = m2m_now_ms();
	due = vpn_live_due(wa, now);
	if (next_job(wa, now)) {
		set_timer(wa, vpn_guard_due(wa));
		return arm_events(wa, false, err);
	}
	next = now + POLL_UP_MS;
	if (due < next)
		next = due;
	if (wa->guard_next < next)
		next = wa->guard_next;
	if (!wa->ev && wa->ev_retry < next)
		next = wa->ev_retry;
	/* events read ahead, past read_events' slice: epoll does not see them */
	if (wa->ev && vici_pending(wa->ev))
		next = now;
	for (size_t i = 0; i < wa->n; i++)
		if (wa->w[i].next < next)
			next = wa->w[i].next;
	now = m2m_now_ms();
	*next_ms = next > now ? (unsigned)(next - now) : 0;
	set_timer(wa, *next_ms);
	return M2M_OK;
}

int m2m_vpn_watch_fd(const struct m2m_vpn_watch *wa)
{
	return wa->epfd;
}

/* ---- open / close -------------------------------------------------------- */

static int take_locks(struct m2m_vpn_watch *wa, struct m2m_err *err)
{
	int rc = M2M_OK;

	for (size_t i = 0; !rc && i < wa->n; i++) {
		rc = vpn_watch_lock(wa->cfg, wa->w[i].p->name, &wa->w[i].lock, err);
		if (rc == M2M_ERR_BUSY)
			m2m_err_set(err, rc, "profile %s is already supervised by another watch",
				    wa->w[i].p->name);
	}
	return rc;
}

static int pick_profiles(struct m2m_vpn_watch *wa, const char *const *profiles,
			 struct m2m_err *err)
{
	const struct m2m_config *cfg = wa->cfg;

	if (profiles && profiles[0]) {
		for (const char *const *n = profiles; *n; n++) {
			const struct m2m_vpn_profile *p = m2m_config_profile(cfg, *n);

			if (!p)
				return m2m_err_set(err, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", *n,
						   cfg->path ? cfg->path : "the configuration");
			if (wa->n < cfg->n_profiles)
				wa->w[wa->n++] = (struct watched){ .p = p, .lock = -1 };
		}
	} else {
		for (size_t i = 0; i < cfg->n_profiles; i++)
			if (cfg->profiles[i].mode == M2M_VPN_ALWAYS_ON)
				wa->w[wa->n++] = (struct watched){ .p = &cfg->profiles[i], .lock = -1 };
	}
	if (wa->n == 0)
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: no always-on VPN profile to watch",
				   cfg->path ? cfg->path : "configuration");
	for (size_t i = 0; i < wa->n; i++)
		wa->w[i].first_step = m2m_backoff_ms(&wa->w[i].p->retry_network, 0);
	return M2M_OK;
}

/* The fds and the helper thread; it blocks every signal, so they reach the caller's threads. */
static int start_helper(struct m2m_vpn_watch *wa, struct m2m_err *err)
{
	struct epoll_event ee = { .events = EPOLLIN };
	sigset_t all, old;
	int e;

	wa->epfd = epoll_create1(EPOLL_CLOEXEC);
	wa->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	wa->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (wa->epfd < 0 || wa->wake < 0 || wa->timer < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "epoll, eventfd or timerfd: %s",
				   strerror(errno));
	ee.data.fd = wa->wake;
	if (epoll_ctl(wa->epfd, EPOLL_CTL_ADD, wa->wake, &ee) < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "epoll_ctl: %s", strerror(errno));
	ee.data.fd = wa->timer;
	if (epoll_ctl(wa->epfd, EPOLL_CTL_ADD, wa->timer, &ee) < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "epoll_ctl: %s", strerror(errno));
	/* due at once: the first step has work */
	set_timer(wa, 0);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&wa->thread, NULL, helper, wa);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e)
		return m2m_err_set(err, M2M_ERR_FAILURE, "cannot start the watch's thread: %s",
				   strerror(e));
	wa->thread_started = true;
	return M2M_OK;
}

/* The helper's attempt in progress gives up (within a second or so) and the thread ends. */
static void stop_helper(struct m2m_vpn_watch *wa)
{
	if (!wa->thread_started)
		return;
	pthread_mutex_lock(&wa->mu);
	wa->quit = true;
	__atomic_store_n(&wa->closing, 1, __ATOMIC_SEQ_CST);
	pthread_cond_signal(&wa->cv);
	pthread_mutex_unlock(&wa->mu);
	pthread_join(wa->thread, NULL);
	wa->thread_started = false;
}

/* Everything but the "stopping" line: also the cleanup of a failed open. */
static void watch_free(struct m2m_vpn_watch *wa)
{
	stop_helper(wa);
	deliver_logs(wa);
	for (size_t i = 0; i < wa->n; i++)
		if (wa->w[i].lock >= 0)
			vpn_liveness_clear(wa->cfg, wa->w[i].p->name);
	vici_close(wa->ev);
	m2m_vpn_close(wa->vpn);
	for (size_t i = 0; i < wa->n; i++)
		m2m_unlock(wa->w[i].lock);
	vpn_watch_guards_close(wa);
	if (wa->epfd >= 0)
		close(wa->epfd);
	if (wa->wake >= 0)
		close(wa->wake);
	if (wa->timer >= 0)
		close(wa->timer);
	pthread_cond_destroy(&wa->cv);
	pthread_mutex_destroy(&wa->mu);
	free(wa->w);
	free(wa);
}

int m2m_vpn_watch_open(const struct m2m_config *cfg, const char *const *profiles,
		       m2m_log_fn log, void *log_ctx, struct m2m_vpn_watch **out,
		       struct m2m_err *err)
{
	struct m2m_vpn_watch *wa = calloc(1, sizeof(*wa));
	int rc;

	*out = NULL;
	if (!wa)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	*wa = (struct m2m_vpn_watch){ .cfg = cfg, .log = log, .log_ctx = log_ctx, .epfd = -1,
				      .wake = -1, .timer = -1, .ev_armed = -1, .nftmon = -1 };
	wa->q_tail = &wa->q;
	pthread_mutex_init(&wa->mu, NULL);
	pthread_cond_init(&wa->cv, NULL);
	wa->w = calloc(cfg->n_profiles ? cfg->n_profiles : 1, sizeof(*wa->w));
	if (!wa->w) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		goto fail;
	}
	rc = pick_profiles(wa, profiles, err);
	if (!rc)
		rc = take_locks(wa, err);
	/* what a watch before us saw no longer holds; this one learns it anew */
	for (size_t i = 0; !rc && i < wa->n; i++)
		vpn_liveness_clear(cfg, wa->w[i].p->name);
	if (!rc)
		rc = m2m_vpn_open(cfg, &wa->vpn, err);
	if (rc)
		goto fail;
	if (log)
		m2m_vpn_set_log(wa->vpn, queue_log, wa);
	m2m_vpn_set_cancel(wa->vpn, &wa->closing);
	/* hold protected traffic from the first moment, before any tunnel exists */
	for (size_t i = 0; i < wa->n; i++) {
		if (!wa->w[i].p->fail_closed)
			continue;
		rc = vpn_guard_enable(cfg, wa->w[i].p, err);
		if (rc)
			goto fail;
		WLOG(wa, LOG_INFO, "%s: fail-closed guard in place", wa->w[i].p->name);
	}
	rc = start_helper(wa, err);
	if (rc)
		goto fail;
	rc = vpn_watch_guards(wa, err);
	if (rc)
		goto fail;
	WLOG(wa, LOG_INFO, "supervising %zu profile%s", wa->n, wa->n == 1 ? "" : "s");
	*out = wa;
	return M2M_OK;
fail:
	watch_free(wa);
	return rc;
}

void m2m_vpn_watch_close(struct m2m_vpn_watch *wa)
{
	if (!wa)
		return;
	/* first the helper, so its last lines come out before ours */
	stop_helper(wa);
	deliver_logs(wa);
	WLOG(wa, LOG_INFO, "stopping; tunnels and fail-closed guards stay as they are");
	watch_free(wa);
}

/* ---- the blocking form --------------------------------------------------- */

int m2m_vpn_watch(const struct m2m_config *cfg, const char *const *profiles,
		  volatile const int *stop, m2m_log_fn log, void *log_ctx, struct m2m_err *err)
{
	struct m2m_vpn_watch *wa;
	unsigned next_ms;
	int rc;

	/* without a way to stop, the only end would be the process's */
	if (!stop)
		return m2m_err_set(err, M2M_ERR_USAGE, "m2m_vpn_watch: no stop flag");
	rc = m2m_vpn_watch_open(cfg, profiles, log, log_ctx, &wa, err);
	if (rc)
		return rc;
	while (!*stop) {
		struct pollfd pfd = { .fd = m2m_vpn_watch_fd(wa), .events = POLLIN };

		rc = m2m_vpn_watch_step(wa, &next_ms, err);
		if (rc || *stop)
			break;
		/* stay responsive to the stop flag */
		poll(&pfd, 1, next_ms > STOP_SLICE_MS ? STOP_SLICE_MS : (int)next_ms);
	}
	m2m_vpn_watch_close(wa);
	return rc;
}

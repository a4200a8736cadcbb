/* SPDX-License-Identifier: MIT */
/*
 * The quarantine held while a process runs (m2m/policy.h; m2mdm-policy
 * watch). A check runs from a timer, so a firewall reload, `nft flush
 * ruleset` or a rule deleted by hand would lift the quarantine until the next
 * one: here nftables' change notifications (net's nftmon.c, as the VPN
 * watch's guard hears them) start a look at once, and the table is compared
 * rule by rule with its record and put back. Meanwhile the watch's own copy of
 * the table (quarantine.c: flags owner, which no other process can change and
 * a flush passes by) drops the traffic, so nothing leaves while the table is
 * gone or waits for its turn.
 *
 * A restore goes through the policy lock, as a release does: a quarantine
 * released meanwhile (its record gone) is not put back, and a check, release
 * or apply holding the lock is waited out by trying again. Restores are
 * audited, one record each, and rate-limited (a bucket: POL_RESTORE_BURST at
 * once, then one every POL_RESTORE_EVERY_MS), so that a fight with another
 * tool that keeps removing the table can neither spin the CPU nor push the
 * audit log's history out; the copy holds the traffic while a restore waits.
 *
 * Security events (policy.counters) are counted as they are written, not only
 * at the next check: the state directory is watched with inotify (an append
 * closes the file, a compaction renames a new one over it), and a change of
 * security-events starts a count (policy.c's, a check's counters alone) under
 * the policy lock, never waited for, as a restore. However many events come,
 * the notifications are read at most every COUNT_GAP_MS (one-shot in the
 * epoll set, armed again after each read), so the watch wakes, counts and
 * writes at most that often: a count reads at most 192 KiB a counter
 * (events.c), and the audit log gets a record only when a verdict changes.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <syslog.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/policy.h"
#include "net/net.h"
#include "policy/policy_int.h"
#include "state/state.h"

#define WATCH_LOCK "policy-watch.lock"
/* without a notification: the record looked at (a release, a quarantine begun), and the table */
#define LOOK_EVERY_MS 1000
/*
 * however many notifications come, looks (each lists the table once the rules
 * changed) at most every LOOK_GAP_MS: 4% of a core under a storm of changes here
 */
#define LOOK_GAP_MS 20
/*
 * while a restore is owed (the lock held by a check, release or apply, or the
 * bucket empty): looked at again this soon, so that a release meanwhile (its
 * record gone, which nftables does not announce) lets the copy go at once
 */
#define OWED_LOOK_MS 50
/*
 * security events: their notifications read, and the counters counted, at
 * most every COUNT_GAP_MS (the first at once): a storm of events costs at most
 * 10 counts a second, and an event waits at most this long to be counted
 */
#define COUNT_GAP_MS 100
/* reads of inotify's queue at once (4 KiB each); what is left is read COUNT_GAP_MS later */
#define EVENTS_READS 16
/* the epoll set's members (m2m_policy_watch_fd()) */
#define SRC_NFT 1
#define SRC_EVENTS 2
/* m2m_policy_watch(): how late it may see *stop */
#define STOP_SLICE_MS 250

struct m2m_policy_watch {
	const struct m2m_config *cfg;
	m2m_log_fn log;
	void *log_ctx;
	struct m2m_state st;
	int lock;
	int nftmon;                        /* nftables' notifications; -1 without */
	int events;                        /* inotify on the state directory; -1: not counted here */
	int ep;                            /* epoll: nftmon and events (m2m_policy_watch_fd()) */
	bool events_armed;                 /* events is in the set: not reported since it was read */
	uint64_t events_at;                /* the earliest it is read again */
	bool count_owed;                   /* security events written: a count is owed from count_at */
	uint64_t count_at;
	struct net_nft *hold;              /* the context that owns the copy */
	char *held;                        /* the body the copy was made of; NULL: no copy */
	char gen[NET_NFT_GEN_LEN];         /* where the rules stood at the last look ("": unknown) */
	bool whole;                        /* and whether the table was whole then */
	uint64_t look_at, last_look;
	uint64_t owed_since;               /* a restore is owed since then (0: none) */
	struct pol_bucket bucket;
	bool said_wait;                    /* the wait for the bucket said, once a wait */
	char said_err[sizeof(((struct m2m_err *)0)->msg)]; /* the last error said, said once */
};

/* ---- the bucket ---- */

static void refill(struct pol_bucket *b, uint64_t now)
{
	uint64_t k;

	if (b->n >= POL_RESTORE_BURST || now < b->at)
		return;
	k = (now - b->at) / POL_RESTORE_EVERY_MS;
	if (b->n + k >= POL_RESTORE_BURST) {
		b->n = POL_RESTORE_BURST;
		b->at = now;
	} else {
		b->n += (unsigned)k;
		b->at += k * POL_RESTORE_EVERY_MS;
	}
}

void pol_bucket_init(struct pol_bucket *b, uint64_t now)
{
	b->n = POL_RESTORE_BURST;
	b->at = now;
}

bool pol_bucket_ready(struct pol_bucket *b, uint64_t now, uint64_t *next)
{
	refill(b, now);
	*next = b->n ? now : b->at + POL_RESTORE_EVERY_MS;
	return b->n > 0;
}

void pol_bucket_take(struct pol_bucket *b, uint64_t now)
{
	refill(b, now);
	if (!b->n)
		return;
	/* a full bucket starts its refill with the first one taken */
	if (b->n == POL_RESTORE_BURST)
		b->at = now;
	b->n--;
}

/* ---- the watch ---- */

/* A line to the caller's log, if it gave one (the format checked as printf's by m2m_log_fn's) */
#define SAY(w, prio, ...)                                             \
	do {                                                          \
		if ((w)->log)                                         \
			(w)->log((w)->log_ctx, (prio), __VA_ARGS__); \
	} while (0)

/* An error said once: a look every second must not repeat it every second. */
static void say_err(struct m2m_policy_watch *w, const struct m2m_err *e)
{
	if (strcmp(w->said_err, e->msg) == 0)
		return;
	snprintf(w->said_err, sizeof(w->said_err), "%s", e->msg);
	SAY(w, LOG_ERR, "%s", e->msg);
}

/* Whether the table is whole; cheap while no rule changed since the last look. */
static bool table_whole(struct m2m_policy_watch *w)
{
	char gen[NET_NFT_GEN_LEN];

	/* before the listing: a change after it makes the word differ */
	if (net_nft_generation(gen, sizeof(gen), NULL) != M2M_OK)
		gen[0] = '\0';
	if (gen[0] && strcmp(gen, w->gen) == 0)
		return w->whole;
	/* not refreshed into the record: a look at every change would write the disk each time */
	w->whole = pol_quarantine_whole(w->cfg, false);
	memcpy(w->gen, gen, sizeof(gen));
	return w->whole;
}

static void restore(struct m2m_policy_watch *w, uint64_t now)
{
	uint64_t next;
	struct m2m_err e;
	bool restored;
	int rc;

	if (!pol_bucket_ready(&w->bucket, now, &next)) {
		if (!w->said_wait)
			SAY(w, LOG_WARNING, "quarantine: its rules were changed or gone again: put back in "
			    "%llu s (at most %u at once, then one every %u s); the watch's copy holds the "
			    "traffic meanwhile", (unsigned long long)((next - now + 999) / 1000),
			    POL_RESTORE_BURST, POL_RESTORE_EVERY_MS / 1000);
		w->said_wait = true;
		w->look_at = now + OWED_LOOK_MS;
		return;
	}
	m2m_err_clear(&e);
	rc = pol_quarantine_put_back(w->cfg, "the quarantine's rules were changed or gone: "
					     "put back by the watch", &restored, &e);
	if (rc == M2M_ERR_BUSY) {
		/* a check, release or apply: what it leaves is looked at once it is done */
		w->look_at = now + OWED_LOOK_MS;
		return;
	}
	/* a failed try too: nft's work is what the bucket bounds */
	if (rc || restored)
		pol_bucket_take(&w->bucket, now);
	if (rc) {
		say_err(w, &e);
		return;
	}
	if (restored)
		SAY(w, LOG_WARNING, "quarantine: its rules were changed or gone: put back (%llu ms)",
		    (unsigned long long)(m2m_now_ms() - w->owed_since));
	w->owed_since = 0;
	w->said_wait = false;
	w->said_err[0] = '\0';
}

/*
 * One look: the copy follows the record (made, made anew, or gone with a
 * release), then the table itself is compared with its record and put back
 * if it is not whole.
 */
static void look(struct m2m_policy_watch *w, uint64_t now)
{
	struct m2m_err e;
	bool in_force;

	w->last_look = now;
	w->look_at = now + LOOK_EVERY_MS;
	m2m_err_clear(&e);
	if (pol_quarantine_hold(w->hold, w->cfg, &w->held, &in_force, &e) != M2M_OK)
		say_err(w, &e);
	else if (!w->owed_since)
		w->said_err[0] = '\0'; /* all well: the same error again is said again */
	if (!in_force) {
		struct m2m_policy_status st = { .version = M2M_POLICY_STATUS_VERSION };

		/*
		 * No record of the rules, but the state says quarantined: one that
		 * failed half-way (a check's or a count's while a firewall reload
		 * flushed its table as it was made). In force all the same: put
		 * back (put_back sees the state too, under the lock).
		 */
		in_force = pol_state_load(&w->st, &st, NULL) == M2M_OK && st.quarantined;
	}
	if (!in_force) {
		if (w->owed_since)
			SAY(w, LOG_INFO, "quarantine: released; not put back");
		w->owed_since = 0;
		w->said_wait = false;
		w->gen[0] = '\0';
		return;
	}
	if (table_whole(w)) {
		/* whole again: put back meanwhile by a check or apply */
		w->owed_since = 0;
		w->said_wait = false;
		return;
	}
	if (!w->owed_since)
		w->owed_since = now;
	restore(w, now);
}

/* ---- security events ---- */

/* Whether any counter is configured: without one, events are not watched. */
static bool counted(const struct m2m_config *cfg)
{
	if (!cfg->policy)
		return false;
	for (int k = 0; k < M2M_POLICY_N_COUNTERS; k++)
		if (cfg->policy->counters[k].threshold)
			return true;
	return false;
}

/* inotify on the state directory, one-shot in the epoll set; false (said) if not */
static bool events_open(struct m2m_policy_watch *w)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u32 = SRC_EVENTS };

	w->events = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->events < 0 ||
	    inotify_add_watch(w->events, w->st.path, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR) < 0 ||
	    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->events, &ev) < 0) {
		SAY(w, LOG_WARNING, "inotify: %s/%s: %s; security events are counted by the checks alone",
		    w->st.path, M2M_EVENTS_NAME, strerror(errno));
		if (w->events >= 0)
			close(w->events);
		w->events = -1;
		return false;
	}
	w->events_armed = true;
	return true;
}

/*
 * The notifications queued (at most EVENTS_READS reads): whether one is of
 * security-events, or some were lost (the queue overflowed). Other files of
 * the directory (the state, the audit log, the locks: a count's own writes)
 * are passed by.
 */
static bool events_read(struct m2m_policy_watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	bool ours = false;

	for (int i = 0; i < EVENTS_READS; i++) {
		ssize_t n = read(w->events, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (char *p = buf; p + sizeof(*ev) <= buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if ((ev->mask & IN_Q_OVERFLOW) ||
			    (ev->len && strncmp(ev->name, M2M_EVENTS_NAME, ev->len) == 0))
				ours = true;
		}
	}
	return ours;
}

/* A count; the lock held by a check, release or apply: tried again shortly. */
static void count(struct m2m_policy_watch *w, uint64_t now)
{
	struct m2m_err e;
	bool entered;
	int rc;

	m2m_err_clear(&e);
	rc = pol_counters_count(w->cfg, w->log, w->log_ctx, &entered, &e);
	if (rc == M2M_ERR_BUSY) {
		w->count_at = now + OWED_LOOK_MS;
		return;
	}
	w->count_owed = false;
	if (rc)
		say_err(w, &e);
	/* a quarantine begun: the copy made at the next step, not at the next look */
	if (entered)
		w->look_at = now;
}

int m2m_policy_watch_open(const struct m2m_config *cfg, m2m_log_fn log, void *log_ctx,
			  struct m2m_policy_watch **out, struct m2m_err *err)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = SRC_NFT };
	struct m2m_policy_watch *w;
	struct m2m_err e;
	int rc;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	w->cfg = cfg;
	w->log = log;
	w->log_ctx = log_ctx;
	w->lock = -1;
	w->nftmon = -1;
	w->events = -1;
	w->ep = -1;
	rc = m2m_state_open(&w->st, pol_state_dir(cfg), err);
	if (rc) {
		free(w);
		return rc;
	}
	/* one copy, one owner: a second watch could not make its own */
	rc = m2m_state_lock(&w->st, WATCH_LOCK, 0, &w->lock, err);
	if (rc == M2M_ERR_BUSY)
		m2m_err_set(err, rc, "another policy watch is running");
	if (!rc)
		rc = net_nft_open(&w->hold, err);
	if (!rc && (w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "epoll: %s", strerror(errno));
	if (rc) {
		m2m_policy_watch_close(w);
		return rc;
	}
	m2m_err_clear(&e);
	if (net_nft_monitor_open(&w->nftmon, &e) != M2M_OK)
		SAY(w, LOG_WARNING, "%s; the quarantine is looked at every %u ms", e.msg, LOOK_EVERY_MS);
	if (w->nftmon >= 0 && epoll_ctl(w->ep, EPOLL_CTL_ADD, w->nftmon, &ev) < 0) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "epoll: %s", strerror(errno));
		m2m_policy_watch_close(w);
		return rc;
	}
	/* the first step counts what was written while no watch ran */
	if (counted(cfg) && events_open(w)) {
		w->count_owed = true;
		w->count_at = m2m_now_ms();
	}
	pol_bucket_init(&w->bucket, m2m_now_ms());
	/* the first step looks at once */
	w->look_at = m2m_now_ms();
	*out = w;
	return M2M_OK;
}

int m2m_policy_watch_fd(const struct m2m_policy_watch *w)
{
	return w->nftmon >= 0 || w->events >= 0 ? w->ep : -1;
}

/* the time until at, from now, if it is sooner than *next_ms */
static void sooner(unsigned *next_ms, uint64_t at, uint64_t now)
{
	unsigned ms = at > now ? (unsigned)(at - now) : 0;

	if (ms < *next_ms)
		*next_ms = ms;
}

int m2m_policy_watch_step(struct m2m_policy_watch *w, unsigned *next_ms, struct m2m_err *err)
{
	struct epoll_event ev[2];
	uint64_t now = m2m_now_ms();
	int n;

	(void)err;
	/* the events' notifications, reported once: read once COUNT_GAP_MS passed since the last read */
	n = w->events >= 0 ? epoll_wait(w->ep, ev, 2, 0) : 0;
	for (int i = 0; i < n; i++)
		if (ev[i].data.u32 == SRC_EVENTS)
			w->events_armed = false;
	if (w->events >= 0 && !w->events_armed && now >= w->events_at) {
		struct epoll_event arm = { .events = EPOLLIN | EPOLLONESHOT, .data.u32 = SRC_EVENTS };

		/* read before the count reads the file: an event written after it is heard again */
		if (events_read(w) && !w->count_owed) {
			w->count_owed = true;
			w->count_at = now;
		}
		w->events_at = now + COUNT_GAP_MS;
		w->events_armed = epoll_ctl(w->ep, EPOLL_CTL_MOD, w->events, &arm) == 0;
	}
	if (w->count_owed && now >= w->count_at)
		count(w, now);
	/* a change heard: the next look at once, unless one was just now (a storm of changes) */
	if (w->nftmon >= 0 && net_nft_monitor_drain(w->nftmon) &&
	    w->last_look + LOOK_GAP_MS < w->look_at)
		w->look_at = w->last_look + LOOK_GAP_MS;
	if (now >= w->look_at)
		look(w, now);
	now = m2m_now_ms();
	*next_ms = LOOK_EVERY_MS;
	sooner(next_ms, w->look_at, now);
	if (w->events >= 0 && !w->events_armed)
		sooner(next_ms, w->events_at, now);
	if (w->count_owed)
		sooner(next_ms, w->count_at, now);
	return M2M_OK;
}

void m2m_policy_watch_close(struct m2m_policy_watch *w)
{
	if (!w)
		return;
	/*
	 * The copy goes with its owner; the quarantine's table stays. One the
	 * bucket held back (owed) is put back first, whatever the bucket: else
	 * stopping the watch (an upgrade, systemctl stop) would free the device
	 * until the next check. A check or release holding the lock: it looks
	 * at the rules itself.
	 */
	if (w->owed_since) {
		struct m2m_err e;
		bool restored;

		m2m_err_clear(&e);
		if (pol_quarantine_put_back(w->cfg, "the quarantine's rules were changed or gone: "
						    "put back by the watch as it stopped", &restored, &e) &&
		    e.rc != M2M_ERR_BUSY)
			SAY(w, LOG_ERR, "%s", e.msg);
	}
	net_nft_close(w->hold);
	free(w->held);
	if (w->nftmon >= 0)
		close(w->nftmon);
	if (w->events >= 0)
		close(w->events);
	if (w->ep >= 0)
		close(w->ep);
	m2m_state_unlock(w->lock);
	m2m_state_close(&w->st);
	free(w);
}

int m2m_policy_watch(const struct m2m_config *cfg, volatile const int *stop, m2m_log_fn log,
		     void *log_ctx, struct m2m_err *err)
{
	struct m2m_policy_watch *w;
	unsigned next_ms;
	int rc;

	/* without a way to stop, the only end would be the process's */
	if (!stop)
		return m2m_err_set(err, M2M_ERR_USAGE, "m2m_policy_watch: no stop flag");
	rc = m2m_policy_watch_open(cfg, log, log_ctx, &w, err);
	if (rc)
		return rc;
	while (!*stop) {
		struct pollfd pfd = { .fd = m2m_policy_watch_fd(w), .events = POLLIN };

		rc = m2m_policy_watch_step(w, &next_ms, err);
		if (rc || *stop)
			break;
		if (poll(&pfd, 1, next_ms > STOP_SLICE_MS ? STOP_SLICE_MS : (int)next_ms) < 0 &&
		    errno != EINTR) {
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "poll: %s", strerror(errno));
			break;
		}
	}
	m2m_policy_watch_close(w);
	return rc;
}

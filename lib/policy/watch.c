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
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
/* m2m_policy_watch(): how late it may see *stop */
#define STOP_SLICE_MS 250

struct m2m_policy_watch {
	const struct m2m_config *cfg;
	m2m_log_fn log;
	void *log_ctx;
	struct m2m_state st;
	int lock;
	int nftmon;                        /* nftables' notifications; -1 without */
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

int m2m_policy_watch_open(const struct m2m_config *cfg, m2m_log_fn log, void *log_ctx,
			  struct m2m_policy_watch **out, struct m2m_err *err)
{
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
	if (rc) {
		m2m_policy_watch_close(w);
		return rc;
	}
	m2m_err_clear(&e);
	if (net_nft_monitor_open(&w->nftmon, &e) != M2M_OK)
		SAY(w, LOG_WARNING, "%s; the quarantine is looked at every %u ms", e.msg, LOOK_EVERY_MS);
	pol_bucket_init(&w->bucket, m2m_now_ms());
	/* the first step looks at once */
	w->look_at = m2m_now_ms();
	*out = w;
	return M2M_OK;
}

int m2m_policy_watch_fd(const struct m2m_policy_watch *w)
{
	return w->nftmon;
}

int m2m_policy_watch_step(struct m2m_policy_watch *w, unsigned *next_ms, struct m2m_err *err)
{
	uint64_t now = m2m_now_ms();

	(void)err;
	/* a change heard: the next look at once, unless one was just now (a storm of changes) */
	if (w->nftmon >= 0 && net_nft_monitor_drain(w->nftmon) &&
	    w->last_look + LOOK_GAP_MS < w->look_at)
		w->look_at = w->last_look + LOOK_GAP_MS;
	if (now >= w->look_at)
		look(w, now);
	now = m2m_now_ms();
	*next_ms = w->look_at > now ? (unsigned)(w->look_at - now) : 0;
	if (*next_ms > LOOK_EVERY_MS)
		*next_ms = LOOK_EVERY_MS;
	return M2M_OK;
}

void m2m_policy_watch_close(struct m2m_policy_watch *w)
{
	if (!w)
		return;
	/* the copy goes with its owner; the quarantine's table stays */
	net_nft_close(w->hold);
	free(w->held);
	if (w->nftmon >= 0)
		close(w->nftmon);
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

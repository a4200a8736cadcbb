/* SPDX-License-Identifier: MIT */
/*
 * The gateway's answers on a watched profile's IKE SA, followed by the step
 * from charon's log stream and events (watch.c): a request left unanswered
 * for UNANSWERED_MS makes the SA "unconfirmed" (logged, and in the state
 * file status reads); after charon had no path, a returned path the gateway
 * leaves unanswered for retry.network's first step means it has dropped our
 * IKE SA, and check() starts a new one.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "base/base.h"
#include "vpn/vpn_int.h"
#include "vpn/watch_int.h"

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Say it once: the log, and the state file "status" reads. */
static void mark_unconfirmed(struct m2m_vpn_watch *wa, struct watched *w)
{
	char when[16];
	char msg[200];
	struct tm tm;

	if (w->unconfirmed || !w->ike_id)
		return;
	w->unconfirmed = true;
	localtime_r(&w->quiet_wall, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	snprintf(msg, sizeof(msg), "the gateway has not answered since %s (%s)", when, w->why);
	WLOG(wa, LOG_WARNING, "%s: %s", w->p->name, msg);
	vpn_liveness_save(wa->cfg, w->p->name, w->ike_id, w->quiet_wall, msg);
}

/* Nothing is known about the gateway's answers (again). */
void vpn_live_forget(struct m2m_vpn_watch *wa, struct watched *w)
{
	if (w->unconfirmed)
		vpn_liveness_clear(wa->cfg, w->p->name);
	w->quiet_since = 0;
	w->unconfirmed = w->no_path = w->restart = false;
	w->path_back = 0;
}

/* The gateway answered on this IKE SA (or a new one is up). */
void vpn_live_confirmed(struct m2m_vpn_watch *wa, struct watched *w, const char *how)
{
	if (w->unconfirmed)
		WLOG(wa, LOG_NOTICE, "%s: the gateway answers again (%s)", w->p->name, how);
	vpn_live_forget(wa, w);
}

static void quiet(struct watched *w, const char *why)
{
	if (w->quiet_since)
		return;
	w->quiet_since = m2m_now_ms();
	w->quiet_wall = time(NULL);
	snprintf(w->why, sizeof(w->why), "%s", why);
}

/*
 * One of charon's log lines about our IKE SA. The words are charon's own
 * (5.9: task_manager_v2.c, ike_mobike.c, ike_sa.c, sender.c, message.c).
 */
void vpn_live_log(struct m2m_vpn_watch *wa, struct watched *w, unsigned id, const char *m)
{
	if (id != w->ike_id) {
		/* a newer SA of ours: follow it; lines of an older one no longer matter */
		if (w->ike_id && id < w->ike_id)
			return;
		vpn_live_forget(wa, w);
		w->ike_id = id;
	}
	if (starts(m, "parsed ") && (strstr(m, " response ") || strstr(m, " request "))) {
		/* an answer, or the gateway's own request: it knows this SA */
		if (w->quiet_since)
			vpn_live_confirmed(wa, w, m + strlen("parsed "));
		return;
	}
	if (starts(m, "sending DPD request") || starts(m, "requesting address change") ||
	    starts(m, "sending address list update") || starts(m, "checking if current path")) {
		quiet(w, "dead-peer detection");
		return;
	}
	if (strstr(m, "update deferred") || strstr(m, "probing deferred") ||
	    starts(m, "old path is not available")) {
		quiet(w, "no route to it");
		w->no_path = true;
		w->path_back = 0;
		mark_unconfirmed(wa, w);
		return;
	}
	if (starts(m, "retransmit ") || starts(m, "path probing attempt")) {
		quiet(w, "requests retransmitted");
		mark_unconfirmed(wa, w);
	}
	if (w->no_path && !w->path_back &&
	    (starts(m, "sending packet") || starts(m, "path probing attempt") ||
	     starts(m, "requesting address change"))) {
		/* a path again: the gateway has one round trip and retry.network's first step */
		w->path_back = m2m_now_ms();
		WLOG(wa, LOG_INFO, "%s: a path to the gateway again; waiting for its answer",
		     w->p->name);
	}
}

/*
 * What is due from the answers seen: an unanswered request becomes
 * "unconfirmed" after UNANSWERED_MS; a returned path the gateway leaves
 * unanswered for retry.network's first step means it has dropped our SA.
 * Returns the next time this needs a look (or UINT64_MAX).
 */
uint64_t vpn_live_due(struct m2m_vpn_watch *wa, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < wa->n; i++) {
		struct watched *w = &wa->w[i];

		if (!w->quiet_since)
			continue;
		if (!w->unconfirmed) {
			if (now >= w->quiet_since + UNANSWERED_MS)
				mark_unconfirmed(wa, w);
			else if (w->quiet_since + UNANSWERED_MS < next)
				next = w->quiet_since + UNANSWERED_MS;
		}
		if (w->path_back && !w->restart) {
			uint64_t at = w->path_back + w->first_step;

			if (now >= at) {
				w->restart = true;
				w->fails = 0;
				w->next = now;
			} else if (at < next) {
				next = at;
			}
		}
	}
	return next;
}

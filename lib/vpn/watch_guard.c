/* SPDX-License-Identifier: MIT */
/*
 * The fail-closed guards while watch runs: the watch's own copy of each guard
 * (a table with flags owner, which no other process can change and `nft flush
 * ruleset` skips), nftables' change notifications, and the look at each guard
 * rule by rule, putting back what is not whole. The guards themselves are
 * guard.c's; this is what the supervision (watch.c) does with them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <syslog.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/vpn.h"
#include "net/net.h"
#include "vpn/vpn_int.h"
#include "vpn/watch_int.h"

/*
 * The fail-closed guards, on the caller's thread and whatever the helper is
 * doing: at once when nftables says something changed (a firewall reload,
 * `nft flush ruleset`, a rule deleted), else every GUARD_CHECK_MS. Each is
 * looked at rule by rule and put back if it is not whole; meanwhile the
 * watch's own copy, which no other process can touch, holds the traffic.
 */
void vpn_keep_guards(struct m2m_vpn_watch *wa, bool changed)
{
	uint64_t now = m2m_now_ms();

	if (!changed && now < wa->guard_next)
		return;
	wa->guard_next = now + GUARD_CHECK_MS;
	for (size_t i = 0; i < wa->n; i++) {
		const struct m2m_vpn_profile *p = wa->w[i].p;
		struct m2m_err e;
		bool restored;

		if (!p->fail_closed)
			continue;
		m2m_err_clear(&e);
		if (vpn_guard_keep(wa->hold, wa->cfg, p, &wa->w[i].held, &restored, &e) != M2M_OK)
			WLOG(wa, LOG_ERR, "%s: %s", p->name, e.msg);
		else if (restored)
			WLOG(wa, LOG_WARNING, "%s: fail-closed guard was changed or gone; put back (%llu ms)",
			     p->name, (unsigned long long)(m2m_now_ms() - now));
	}
}

/* ms until the guards' next look (keep_guards has set it: at most GUARD_CHECK_MS) */
unsigned vpn_guard_due(const struct m2m_vpn_watch *wa)
{
	uint64_t now = m2m_now_ms();

	return wa->guard_next > now ? (unsigned)(wa->guard_next - now) : 0;
}

/*
 * While the watch runs: a copy of each guard that only it can change, and
 * nftables' notifications, so that a flushed rule set is put back within
 * milliseconds and nothing leaves in clear meanwhile. Without either (an
 * older kernel) the guards are still looked at every GUARD_CHECK_MS.
 */
int vpn_watch_guards(struct m2m_vpn_watch *wa, struct m2m_err *err)
{
	struct epoll_event ee = { .events = EPOLLIN };
	struct m2m_err e;
	bool any = false;

	for (size_t i = 0; i < wa->n; i++)
		any = any || wa->w[i].p->fail_closed;
	if (!any)
		return M2M_OK;
	if (net_nft_monitor_open(&wa->nftmon, &e) != M2M_OK)
		WLOG(wa, LOG_WARNING, "%s; the guards are looked at every %u ms", e.msg, GUARD_CHECK_MS);
	if (wa->nftmon >= 0) {
		ee.data.fd = wa->nftmon;
		if (epoll_ctl(wa->epfd, EPOLL_CTL_ADD, wa->nftmon, &ee) < 0)
			return m2m_err_set(err, M2M_ERR_FAILURE, "epoll_ctl: %s", strerror(errno));
	}
	if (net_nft_open(&wa->hold, &e) != M2M_OK)
		WLOG(wa, LOG_WARNING, "%s: no copy of the guards while watch runs", e.msg);
	for (size_t i = 0; wa->hold && i < wa->n; i++) {
		bool restored;

		if (!wa->w[i].p->fail_closed)
			continue;
		if (vpn_guard_keep(wa->hold, wa->cfg, wa->w[i].p, &wa->w[i].held, &restored, &e)) {
			/* the guard itself is in place: the copy is a second line, not a reason to stop */
			WLOG(wa, LOG_WARNING, "%s: %s", wa->w[i].p->name, e.msg);
		}
	}
	wa->guard_next = m2m_now_ms() + GUARD_CHECK_MS;
	return M2M_OK;
}

void vpn_watch_guards_close(struct m2m_vpn_watch *wa)
{
	for (size_t i = 0; i < wa->n; i++) {
		free(wa->w[i].held);
		wa->w[i].held = NULL;
	}
	/* the watch's copies of the guards go with their owner; the guards stay */
	net_nft_close(wa->hold);
	wa->hold = NULL;
	if (wa->nftmon >= 0)
		close(wa->nftmon);
	wa->nftmon = -1;
}

/* SPDX-License-Identifier: MIT */
/*
 * The quarantine: one nftables table whose base chains drop what comes in,
 * goes out or passes through, but for what keeps the device manageable: the
 * loopback, the link's own upkeep (neighbour discovery, DHCP), IKE and ESP
 * with every VPN profile's gateways (so the management tunnel can come up),
 * the management server (dm.server, dm.bootstrap) and quarantine.allow. A
 * drop in this table holds whatever another table (the fail-closed guard, a
 * firewall) accepts: every base chain at a hook must let a packet pass.
 * Kept whole through lib/net: its record in the state directory says what it
 * must hold, and puts it back without looking a name up (at boot, before the
 * network). Addresses written as such are always in; names are looked up
 * within what is left of the check (at most LOOKUP_MS for all), a name that
 * does not resolve is left out and said, and every later check looks them up
 * again and makes the rules anew when the addresses changed and all resolved.
 * While m2mdm-policy watch runs, its copy of the table (flags owner: no other
 * process can change it, `nft flush ruleset` passes it by) holds the traffic
 * whenever the table itself is flushed, changed or waits to be put back.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/base.h"
#include "m2m/config.h"
#include "net/net.h"
#include "policy/policy_int.h"

#define TABLE "m2m_quarantine"
/*
 * The watch's copy: a single '_' before 'w' comes from no profile's guard
 * table (vpn/guard.c doubles '_' and writes '-' as "_d"; its copies end in _hold)
 */
#define WATCH_TABLE "m2m_quarantine_watch"
/* a filter chain like any: a drop in any base chain at a hook holds whatever another accepts */
#define PRIO "-5"
/* all names together: a silent name server cannot hold a quarantine back for long */
#define LOOKUP_MS 3000

static const struct net_kept *kept(const struct m2m_config *cfg, struct net_kept *k)
{
	*k = (struct net_kept){ pol_state_dir(cfg), POL_QUARANTINE_RECORD, TABLE, "quarantine" };
	return k;
}

struct addrs {
	char v4[64][INET6_ADDRSTRLEN];
	char v6[64][INET6_ADDRSTRLEN];
	size_t n4, n6;
};

static void add_addr(struct addrs *a, const struct sockaddr *sa)
{
	char buf[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, sizeof(buf));
		for (size_t i = 0; i < a->n4; i++)
			if (strcmp(a->v4[i], buf) == 0)
				return;
		if (a->n4 < 64)
			snprintf(a->v4[a->n4++], INET6_ADDRSTRLEN, "%s", buf);
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, sizeof(buf));
		for (size_t i = 0; i < a->n6; i++)
			if (strcmp(a->v6[i], buf) == 0)
				return;
		if (a->n6 < 64)
			snprintf(a->v6[a->n6++], INET6_ADDRSTRLEN, "%s", buf);
	}
}

/*
 * An address into a at once; a name looked up until end (0: names are not
 * looked up, as at boot). False if it is a name that did not resolve in time.
 */
static bool lookup(const char *host, uint64_t end, struct addrs *a)
{
	static const struct addrinfo hints = { .ai_socktype = SOCK_DGRAM };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct addrinfo *res = NULL;
	uint64_t now = m2m_now_ms();

	if (inet_pton(AF_INET, host, &s4.sin_addr) == 1) {
		add_addr(a, (const struct sockaddr *)&s4);
		return true;
	}
	if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1) {
		add_addr(a, (const struct sockaddr *)&s6);
		return true;
	}
	if (now >= end ||
	    m2m_resolve(host, NULL, &hints, (unsigned)(end - now), NULL, &res, NULL) != M2M_OK)
		return false;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		add_addr(a, ai->ai_addr);
	freeaddrinfo(res);
	return true;
}

/* "a, b" of the names that did not resolve, cut short */
static void miss(char *missed, size_t mlen, const char *host)
{
	size_t n = strlen(missed);

	if (n + strlen(host) + 3 < mlen)
		snprintf(missed + n, mlen - n, "%s%s", n ? ", " : "", host);
	else if (n + 5 < mlen && !strstr(missed, "..."))
		snprintf(missed + n, mlen - n, ", ...");
}

/* The host of a coap:// or coaps:// URI (the config checked its form). */
static bool uri_host(const char *uri, char *out, size_t len)
{
	const char *h = uri ? strstr(uri, "://") : NULL;
	size_t n;

	if (!h)
		return false;
	h += 3;
	if (*h == '[') {
		h++;
		n = strcspn(h, "]");
	} else {
		n = strcspn(h, ":/");
	}
	if (n == 0 || n >= len)
		return false;
	memcpy(out, h, n);
	out[n] = '\0';
	return true;
}

static void set_of(struct m2m_sbuf *b, const char (*list)[INET6_ADDRSTRLEN], size_t n)
{
	for (size_t i = 0; i < n; i++)
		m2m_sbuf_printf(b, "%s%s", i ? ", " : "", list[i]);
}

/* "ip daddr { a, b }" rules for the gateways' IKE and ESP, and for the addresses let through */
static void add_family(struct m2m_sbuf *b, const char *fam, const char *dir, const struct addrs *gw,
		       const struct addrs *mgmt, bool v6)
{
	size_t ng = v6 ? gw->n6 : gw->n4, nm = v6 ? mgmt->n6 : mgmt->n4;
	const char(*g)[INET6_ADDRSTRLEN] = v6 ? gw->v6 : gw->v4;
	const char(*m)[INET6_ADDRSTRLEN] = v6 ? mgmt->v6 : mgmt->v4;
	const char *proto = v6 ? "meta l4proto esp" : "ip protocol esp";
	const char *port = strcmp(dir, "daddr") == 0 ? "dport" : "sport";

	if (ng) {
		m2m_sbuf_printf(b, "    %s %s { ", fam, dir);
		set_of(b, g, ng);
		m2m_sbuf_printf(b, " } udp %s { 500, 4500 } accept\n", port);
		m2m_sbuf_printf(b, "    %s %s { ", fam, dir);
		set_of(b, g, ng);
		m2m_sbuf_printf(b, " } %s accept\n", proto);
	}
	if (nm) {
		m2m_sbuf_printf(b, "    %s %s { ", fam, dir);
		set_of(b, m, nm);
		m2m_sbuf_printf(b, " } accept\n");
	}
}

static void add_allow(struct m2m_sbuf *b, const struct m2m_policy_config *pc, const char *dir)
{
	if (!pc)
		return; /* a quarantine outlives a policy: section taken out */
	for (int v6 = 0; v6 < 2; v6++) {
		bool any = false;

		for (char **p = pc->quarantine_allow; p && *p; p++) {
			if ((strchr(*p, ':') != NULL) != v6)
				continue;
			m2m_sbuf_printf(b, "%s%s", any ? ", " : (v6 ? "    ip6 " : "    ip "), any ? "" : dir);
			m2m_sbuf_printf(b, "%s%s", any ? "" : " { ", *p);
			any = true;
		}
		if (any)
			m2m_sbuf_printf(b, " } accept\n");
	}
}

static void add_chain(struct m2m_sbuf *b, const struct m2m_config *cfg, bool out,
		      const struct addrs *gw, const struct addrs *mgmt)
{
	const char *dir = out ? "daddr" : "saddr";

	m2m_sbuf_printf(b, "  chain %s {\n    type filter hook %s priority " PRIO "; policy drop;\n",
			out ? "q_out" : "q_in", out ? "output" : "input");
	m2m_sbuf_printf(b, "    %s \"lo\" accept\n", out ? "oifname" : "iifname");
	/*
	 * the link's upkeep, and no more: neighbour discovery on the link only (a hop
	 * limit of 255 never crossed a router, RFC 4861), DHCP requests broadcast
	 * (a renewal then rebinds by broadcast), DHCPv6 to its link multicast group
	 */
	m2m_sbuf_printf(b, "    icmpv6 type { %s, nd-neighbor-solicit, nd-neighbor-advert } "
			   "ip6 hoplimit 255 accept\n", out ? "nd-router-solicit" : "nd-router-advert");
	if (out) {
		m2m_sbuf_printf(b, "    ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept\n");
		m2m_sbuf_printf(b, "    ip6 daddr ff02::1:2 udp sport 546 udp dport 547 accept\n");
	} else {
		m2m_sbuf_printf(b, "    udp sport 67 udp dport 68 accept\n");
		m2m_sbuf_printf(b, "    ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept\n");
	}
	add_family(b, "ip", dir, gw, mgmt, false);
	add_family(b, "ip6", dir, gw, mgmt, true);
	add_allow(b, cfg->policy, dir);
	m2m_sbuf_printf(b, "  }\n");
}

/*
 * The rules; names looked up until end (0: none looked up). Every name that
 * did not resolve is left out and named in missed ("" if none).
 */
static char *make_body(const struct m2m_config *cfg, uint64_t end, char *missed, size_t mlen)
{
	struct addrs *gw = calloc(1, sizeof(*gw)), *mgmt = calloc(1, sizeof(*mgmt));
	struct m2m_sbuf b = { 0 };
	const char *uris[2] = { cfg->dm.server, cfg->dm.bootstrap };
	char host[256];

	missed[0] = '\0';
	if (!gw || !mgmt) {
		free(gw);
		free(mgmt);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_profiles; i++)
		for (char **g = cfg->profiles[i].gateways; g && *g; g++)
			if (!lookup(*g, end, gw))
				miss(missed, mlen, *g);
	for (size_t i = 0; i < 2; i++)
		if (cfg->dm.enabled && uri_host(uris[i], host, sizeof(host)) && !lookup(host, end, mgmt))
			miss(missed, mlen, host);
	add_chain(&b, cfg, true, gw, mgmt);
	add_chain(&b, cfg, false, gw, mgmt);
	/* a device that routes (a gateway for a till) passes nothing on */
	m2m_sbuf_printf(&b, "  chain q_fwd {\n    type filter hook forward priority " PRIO
			    "; policy drop;\n  }\n");
	free(gw);
	free(mgmt);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* the end of the lookups: LOOKUP_MS, and never past the caller's own end */
static uint64_t lookup_end(uint64_t end)
{
	uint64_t mine = m2m_now_ms() + LOOKUP_MS;

	return end && end < mine ? end : mine;
}

int pol_quarantine_enter(const struct m2m_config *cfg, uint64_t end, char *missed, size_t mlen,
			 struct m2m_err *err)
{
	struct net_kept k;
	char *body = make_body(cfg, lookup_end(end), missed, mlen);
	int rc;

	if (!body)
		return m2m_err_set(err, M2M_ERR_FAILURE, "quarantine: out of memory");
	rc = net_kept_apply(kept(cfg, &k), "", body, err);
	free(body);
	return rc;
}

int pol_quarantine_refresh(const struct m2m_config *cfg, uint64_t end, bool *changed,
			   struct m2m_err *err)
{
	struct net_kept_record r;
	struct net_kept k;
	char missed[256], *body;
	int rc = M2M_OK;

	*changed = false;
	body = make_body(cfg, lookup_end(end), missed, sizeof(missed));
	if (!body)
		return m2m_err_set(err, M2M_ERR_FAILURE, "quarantine: out of memory");
	/* only a complete lookup replaces the rules: one that missed a name would drop it */
	if (!missed[0] && net_kept_load(kept(cfg, &k), &r)) {
		if (strcmp(r.body, body) != 0) {
			rc = net_kept_apply(&k, "", body, err);
			*changed = rc == M2M_OK;
		}
		net_kept_record_free(&r);
	}
	free(body);
	return rc;
}

bool pol_quarantine_whole(const struct m2m_config *cfg, bool refresh)
{
	struct net_kept k;

	return net_kept_whole(kept(cfg, &k), "", refresh);
}

int pol_quarantine_restore(const struct m2m_config *cfg, struct m2m_err *err)
{
	struct net_kept_record r;
	struct net_kept k;
	char missed[256], *body;
	int rc;

	/* the same rules once more; no record: the addresses written as such, no lookup */
	if (net_kept_load(kept(cfg, &k), &r)) {
		rc = net_kept_apply(&k, "", r.body, err);
		net_kept_record_free(&r);
		return rc;
	}
	body = make_body(cfg, 0, missed, sizeof(missed));
	if (!body)
		return m2m_err_set(err, M2M_ERR_FAILURE, "quarantine: out of memory");
	rc = net_kept_apply(&k, "", body, err);
	free(body);
	return rc;
}

int pol_quarantine_hold(struct net_nft *hold, const struct m2m_config *cfg, char **held,
			bool *in_force, struct m2m_err *err)
{
	struct net_kept_record r;
	struct net_kept k;
	char *script, *body;
	int rc;

	*in_force = net_kept_load(kept(cfg, &k), &r);
	if (!*in_force) {
		if (!*held)
			return M2M_OK;
		/* released: the copy goes (no other process can take it away) */
		rc = net_nft_exec(hold, "table inet " WATCH_TABLE " { flags owner; }\n"
					"delete table inet " WATCH_TABLE "\n", false, NULL, err);
		if (rc) {
			m2m_err_prefix(err, "quarantine (the watch's copy)");
			return rc;
		}
		free(*held);
		*held = NULL;
		return M2M_OK;
	}
	if (*held && strcmp(*held, r.body) == 0) {
		net_kept_record_free(&r);
		return M2M_OK;
	}
	/* the rules the quarantine has now (made anew with other addresses): the copy follows */
	script = net_table_script(WATCH_TABLE, true, r.body);
	body = script ? strdup(r.body) : NULL;
	net_kept_record_free(&r);
	if (!body) {
		free(script);
		return m2m_err_set(err, M2M_ERR_FAILURE, "quarantine (the watch's copy): out of memory");
	}
	rc = net_nft_exec(hold, script, false, NULL, err);
	free(script);
	if (rc) {
		/* one transaction: the copy before (if any) is still there, as *held says */
		free(body);
		m2m_err_prefix(err, "quarantine (the watch's copy)");
		return rc;
	}
	free(*held);
	*held = body;
	return M2M_OK;
}

bool pol_quarantine_recorded(const struct m2m_config *cfg)
{
	struct net_kept_record r;
	struct net_kept k;

	if (!net_kept_load(kept(cfg, &k), &r))
		return false;
	net_kept_record_free(&r);
	return true;
}

int pol_quarantine_leave(const struct m2m_config *cfg, struct m2m_err *err)
{
	struct net_kept k;

	return net_kept_remove(kept(cfg, &k), err);
}

/* SPDX-License-Identifier: MIT */
/*
 * Fail-closed guard. charon's trap policies do not hold traffic on this
 * strongSwan with kernel-libipsec (the trap route vanishes after the first
 * tunnel goes down, and no acquire is raised), so the guard is an nftables
 * table of its own per profile: traffic to the protected prefixes passes only
 * if it leaves through the tunnel (XFRM: "rt ipsec exists"; kernel-libipsec:
 * the ipsec TUN device); IKE and ESP-in-UDP to the gateways always pass.
 */
#include <arpa/inet.h>
#include <time.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "net/net.h"
#include "state/state.h"
#include "vpn/vpn_int.h"

/* nft identifiers: letters, digits, '_'; profile names may also hold '-'. */
static void table_name(const char *profile, char *out, size_t len)
{
	size_t o = 0;

	o += (size_t)snprintf(out, len, "m2m_");
	for (const char *p = profile; *p && o + 3 < len; p++) {
		if (*p == '-') {
			out[o++] = '_';
			out[o++] = 'd';
		} else if (*p == '_') {
			out[o++] = '_';
			out[o++] = '_';
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

#define GUARD_DNS_MS 2000

/*
 * Resolve the gateways for the IKE exception: literal addresses at once, names
 * all in parallel and within GUARD_DNS_MS, so a silent resolver cannot hold
 * "up" past its time limit. A name that does not resolve in time gets no
 * exception (charon could not reach it either).
 */
struct gw_addrs {
	struct gaicb *cbs;
	struct gaicb **reqs;
	size_t n;
	bool leak; /* a lookup could not be cancelled: its thread may still write */
};

static void resolve_gateways(const struct m2m_vpn_profile *p, struct gw_addrs *ga)
{
	static const struct addrinfo hints = { .ai_socktype = SOCK_DGRAM };
	uint64_t end = m2m_now_ms() + GUARD_DNS_MS;
	size_t n = 0;

	memset(ga, 0, sizeof(*ga));
	for (char **g = p->gateways; g && *g; g++)
		n++;
	ga->cbs = calloc(n ? n : 1, sizeof(*ga->cbs));
	ga->reqs = calloc(n ? n : 1, sizeof(*ga->reqs));
	if (!ga->cbs || !ga->reqs)
		return;
	ga->n = n;
	for (size_t i = 0; i < n; i++) {
		ga->cbs[i].ar_name = p->gateways[i];
		ga->cbs[i].ar_request = &hints;
		ga->reqs[i] = &ga->cbs[i];
	}
	if (n == 0 || getaddrinfo_a(GAI_NOWAIT, ga->reqs, (int)n, NULL) != 0) {
		ga->n = 0;
		return;
	}
	for (;;) {
		bool pending = false;
		uint64_t now = m2m_now_ms();
		struct timespec ts;

		for (size_t i = 0; i < n; i++)
			pending = pending || gai_error(ga->reqs[i]) == EAI_INPROGRESS;
		if (!pending || now >= end)
			break;
		ts.tv_sec = (time_t)((end - now) / 1000);
		ts.tv_nsec = (long)((end - now) % 1000) * 1000000;
		gai_suspend((const struct gaicb *const *)ga->reqs, (int)n, &ts);
	}
	for (size_t i = 0; i < n; i++)
		if (gai_error(ga->reqs[i]) == EAI_INPROGRESS && gai_cancel(ga->reqs[i]) == EAI_NOTCANCELED)
			ga->leak = true;
}

static void free_gateways(struct gw_addrs *ga)
{
	for (size_t i = 0; i < ga->n; i++)
		if (gai_error(ga->reqs[i]) == 0)
			freeaddrinfo(ga->cbs[i].ar_result);
	if (ga->leak)
		return; /* rare; the lookup thread still owns the control blocks */
	free(ga->cbs);
	free(ga->reqs);
}

static void add_gateway_addrs(struct m2m_sbuf *b, const struct gw_addrs *ga, int family)
{
	bool any = false;

	for (size_t i = 0; i < ga->n; i++) {
		if (gai_error(ga->reqs[i]) != 0)
			continue;
		for (struct addrinfo *ai = ga->cbs[i].ar_result; ai; ai = ai->ai_next) {
			char a[INET6_ADDRSTRLEN];
			const void *src;

			if (ai->ai_family != family)
				continue;
			src = family == AF_INET ?
				(const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr :
				(const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
			if (!inet_ntop(family, src, a, sizeof(a)))
				continue;
			m2m_sbuf_printf(b, "%s%s", any ? ", " : "", a);
			any = true;
		}
	}
}

static bool has_family(const struct m2m_vpn_profile *p, bool v6)
{
	for (char **t = p->remote_ts; t && *t; t++)
		if ((strchr(*t, ':') != NULL) == v6)
			return true;
	return false;
}

static void add_prefixes(struct m2m_sbuf *b, const struct m2m_vpn_profile *p, bool v6)
{
	bool first = true;

	for (char **t = p->remote_ts; t && *t; t++) {
		if ((strchr(*t, ':') != NULL) != v6)
			continue;
		m2m_sbuf_printf(b, "%s%s", first ? "" : ", ", *t);
		first = false;
	}
}

static bool full_tunnel(const struct m2m_vpn_profile *p)
{
	for (char **t = p->remote_ts; t && *t; t++)
		if (strcmp(*t, "0.0.0.0/0") == 0 || strcmp(*t, "::/0") == 0)
			return true;
	return false;
}

static void add_rules(struct m2m_sbuf *b, const struct m2m_vpn_profile *p, const char *verdict)
{
	for (int v6 = 0; v6 <= 1; v6++) {
		if (!has_family(p, v6)) {
			/*
			 * A full tunnel of one family must not leave the other one
			 * open (IPv6 on a cellular link beside an IPv4 tunnel).
			 */
			if (full_tunnel(p))
				m2m_sbuf_printf(b, "    meta nfproto %s counter %s\n", v6 ? "ipv6" : "ipv4",
						verdict);
			continue;
		}
		m2m_sbuf_printf(b, "    %s daddr { ", v6 ? "ip6" : "ip");
		add_prefixes(b, p, v6);
		m2m_sbuf_printf(b, " } counter %s\n", verdict);
	}
}

/*
 * The rules, as the body of a table. Where the tunnel is recognised: an
 * IPsec policy on the route (kernel ESP) or charon's TUN device by its exact
 * name. Output and forward refuse early (output with an error the application
 * sees at once); postrouting checks again where the outgoing interface is
 * final, after any chain that re-routed by a mark (multi-WAN, dual SIM), so
 * nothing protected leaves by another link whatever chose it.
 */
static void add_pass(struct m2m_sbuf *b, const char *tun)
{
	m2m_sbuf_printf(b, "    rt ipsec exists accept\n");
	if (tun[0])
		m2m_sbuf_printf(b, "    oifname \"%s\" accept\n", tun);
}

static void add_gateways(struct m2m_sbuf *b, const struct gw_addrs *ga)
{
	for (int v6 = 0; v6 <= 1; v6++) {
		size_t mark = b->len, before, after;

		m2m_sbuf_printf(b, "    %s daddr { ", v6 ? "ip6" : "ip");
		before = b->len;
		add_gateway_addrs(b, ga, v6 ? AF_INET6 : AF_INET);
		after = b->len;
		if (after == before || b->oom) {
			b->len = mark; /* no gateway address of this family */
			continue;
		}
		/* the same start of a rule twice: IKE and ESP in UDP, and ESP itself (kernel ESP without NAT) */
		char *head = strndup(b->s + mark, after - mark);

		m2m_sbuf_printf(b, " } udp dport { 500, 4500 } accept\n");
		if (!head) {
			b->oom = true;
			continue;
		}
		m2m_sbuf_printf(b, "%s } meta l4proto esp accept\n", head);
		free(head);
	}
}

static void build_body(struct m2m_sbuf *b, const struct m2m_vpn_profile *p, const char *tun,
		       const struct gw_addrs *ga)
{
	m2m_sbuf_printf(b, "  chain out_guard {\n");
	m2m_sbuf_printf(b, "    type filter hook output priority filter - 1; policy accept;\n");
	m2m_sbuf_printf(b, "    oifname \"lo\" accept\n");
	add_pass(b, tun);
	add_gateways(b, ga);
	add_rules(b, p, "reject with icmpx admin-prohibited");
	m2m_sbuf_printf(b, "  }\n  chain fwd_guard {\n");
	m2m_sbuf_printf(b, "    type filter hook forward priority filter - 1; policy accept;\n");
	add_pass(b, tun);
	add_rules(b, p, "drop");
	m2m_sbuf_printf(b, "  }\n  chain post_guard {\n");
	m2m_sbuf_printf(b, "    type filter hook postrouting priority 300; policy accept;\n");
	m2m_sbuf_printf(b, "    oifname \"lo\" accept\n");
	add_pass(b, tun);
	add_gateways(b, ga);
	add_rules(b, p, "drop");
	m2m_sbuf_printf(b, "  }\n");
}

/* The guard's table and its record in the state dir, "vpn-NAME.guard-rules". */
struct kept {
	struct net_kept k;
	char table[80], record[NAME_MAX + 1];
};

static const struct net_kept *kept(const struct m2m_config *cfg, const char *profile,
				   struct kept *g)
{
	table_name(profile, g->table, sizeof(g->table));
	snprintf(g->record, sizeof(g->record), "vpn-%.64s.guard-rules", profile);
	g->k = (struct net_kept){ vpn_state_dir(cfg), g->record, g->table, "fail-closed guard" };
	return &g->k;
}

static char *make_body(const struct m2m_vpn_profile *p, const char *tun)
{
	struct gw_addrs ga;
	struct m2m_sbuf b = { 0 };

	resolve_gateways(p, &ga);
	build_body(&b, p, tun, &ga);
	free_gateways(&ga);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

int vpn_guard_install(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		      struct m2m_err *err)
{
	char tun[64], *body;
	int rc;

	vpn_tunnel_if(tun, sizeof(tun));
	body = make_body(p, tun);
	if (!body)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	struct kept g;

	rc = net_kept_apply(kept(cfg, p->name, &g), tun, body, err);
	free(body);
	return rc;
}

/* A marker in the state dir says a guard may exist, so runs without one never load nftables. */
static void marker_name(const char *profile, char *buf, size_t len)
{
	char name[64];

	snprintf(name, sizeof(name), "%s.guard", profile);
	snprintf(buf, len, "vpn-%s", name);
}

int vpn_guard_enable(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		     struct m2m_err *err)
{
	struct m2m_state st;
	struct m2m_err merr;
	char name[NAME_MAX + 1];
	int rc, mrc;

	marker_name(p->name, name, sizeof(name));
	/* the marker first: a crash between the two must not leave a guard nobody removes */
	m2m_err_clear(&merr);
	mrc = m2m_state_open(&st, vpn_state_dir(cfg), &merr);
	if (!mrc) {
		mrc = m2m_state_write(&st, name, "", 0, &merr);
		m2m_state_close(&st);
	}
	/* the guard even so: traffic held back is better than traffic in clear */
	rc = vpn_guard_install(cfg, p, err);
	if (rc || !mrc)
		return rc;
	/* in place, but a later "down" may not know to lift it: the caller must hear it */
	if (err) {
		*err = merr;
		m2m_err_prefix(err, "fail-closed guard: its marker");
	}
	return mrc;
}

/* See vpn_int.h; the tag of the guard's record is the tunnel device it lets through. */
bool vpn_guard_whole(const struct m2m_config *cfg, const struct m2m_vpn_profile *p)
{
	struct kept g;
	char tun[64];

	vpn_tunnel_if(tun, sizeof(tun));
	return net_kept_whole(kept(cfg, p->name, &g), tun, false);
}

int vpn_guard_restore(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		      struct m2m_err *err)
{
	struct net_kept_record r;
	struct kept g;
	char tun[64];
	int rc;

	vpn_tunnel_if(tun, sizeof(tun));
	kept(cfg, p->name, &g);
	/* the same rules once more, no name looked up; another tunnel device: made anew */
	if (!net_kept_load(&g.k, &r) || strcmp(tun, r.tag) != 0) {
		net_kept_record_free(&r);
		return vpn_guard_enable(cfg, p, err);
	}
	rc = net_kept_apply(&g.k, r.tag, r.body, err);
	net_kept_record_free(&r);
	return rc;
}

int vpn_guard_hold(struct net_nft *n, const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		   struct m2m_err *err)
{
	struct net_kept_record r;
	struct kept g;
	char t[96], *script;
	int rc;

	if (!net_kept_load(kept(cfg, p->name, &g), &r))
		return m2m_err_set(err, M2M_ERR_FAILURE, "fail-closed guard: no record of its rules");
	/* a single '_' before 'h' comes from no profile name (table_name doubles it) */
	snprintf(t, sizeof(t), "%s_hold", g.table);
	script = net_table_script(t, true, r.body);
	net_kept_record_free(&r);
	if (!script)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	rc = net_nft_exec(n, script, false, NULL, err);
	free(script);
	if (rc)
		m2m_err_prefix(err, "fail-closed guard (the watch's copy)");
	return rc;
}

/*
 * The marker's being there is all it says, whatever it holds: it is never set
 * aside, a guard it stands for would then stay up for good.
 */
int vpn_guard_disable(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		      struct m2m_err *err)
{
	struct m2m_state st;
	char name[NAME_MAX + 1];
	bool marked = false, opened;
	struct kept g;
	int rc;

	marker_name(p->name, name, sizeof(name));
	kept(cfg, p->name, &g);
	/* no state directory: no marker (a failed open leaves st closed) */
	opened = m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL) == M2M_OK;
	if (opened)
		marked = m2m_state_exists(&st, name);
	if (!p->fail_closed && !marked) {
		m2m_state_close(&st);
		return M2M_OK;
	}
	rc = vpn_guard_remove(p->name, err);
	if (rc == M2M_OK && opened) {
		m2m_state_remove(&st, g.record, NULL);
		if (marked)
			m2m_state_remove(&st, name, NULL);
	}
	m2m_state_close(&st);
	return rc;
}

int vpn_guard_remove(const char *profile, struct m2m_err *err)
{
	char t[80];
	int rc;

	table_name(profile, t, sizeof(t));
	rc = net_table_delete(t, err);
	if (rc)
		m2m_err_prefix(err, "fail-closed guard");
	return rc;
}

int vpn_guard_keep(struct net_nft *hold, const struct m2m_config *cfg,
		   const struct m2m_vpn_profile *p, char **held, bool *restored, struct m2m_err *err)
{
	struct net_kept_record r;
	struct kept g;
	char tun[64];
	int rc = M2M_OK;

	*restored = false;
	vpn_tunnel_if(tun, sizeof(tun));
	if (!net_kept_whole(kept(cfg, p->name, &g), tun, true)) {
		rc = vpn_guard_restore(cfg, p, err);
		if (rc)
			return rc;
		*restored = true;
	}
	if (!hold || !net_kept_load(&g.k, &r))
		return M2M_OK;
	/* the watch's copy follows the guard (a new tunnel device, gateways looked up again) */
	if (!*held || strcmp(*held, r.body) != 0) {
		rc = vpn_guard_hold(hold, cfg, p, err);
		if (!rc) {
			free(*held);
			*held = strdup(r.body);
		}
	}
	net_kept_record_free(&r);
	return rc;
}

int m2m_vpn_guard(struct m2m_vpn *vpn, const char *profile, struct m2m_err *err)
{
	const struct m2m_vpn_profile *p = m2m_config_profile(vpn->cfg, profile);

	if (!p)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", profile,
				   vpn->cfg->path ? vpn->cfg->path : "the configuration");
	if (!p->fail_closed)
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: not fail_closed: it has no guard", p->name);
	/* the rules it holds already are kept: no reload that could open a gap */
	if (vpn_guard_whole(vpn->cfg, p))
		return M2M_OK;
	return vpn_guard_enable(vpn->cfg, p, err);
}

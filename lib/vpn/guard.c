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
#include <stdarg.h>
#include <time.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "net/net.h"
#include "state/state.h"
#include "vpn/vpn_int.h"

struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = (b->cap ? b->cap : 512) * 2 + (size_t)n;
		char *ns = realloc(b->s, ncap);

		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
}

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

/* The guard's rules through lib/net; its messages name the guard. */
static int nft_run(const char *cmds, bool quiet, struct m2m_err *err)
{
	int rc = net_nft_run(cmds, quiet, err);

	if (rc && !quiet)
		m2m_err_prefix(err, "fail-closed guard");
	return rc;
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

static void add_gateway_addrs(struct sbuf *b, const struct gw_addrs *ga, int family)
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
			sb_printf(b, "%s%s", any ? ", " : "", a);
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

static void add_prefixes(struct sbuf *b, const struct m2m_vpn_profile *p, bool v6)
{
	bool first = true;

	for (char **t = p->remote_ts; t && *t; t++) {
		if ((strchr(*t, ':') != NULL) != v6)
			continue;
		sb_printf(b, "%s%s", first ? "" : ", ", *t);
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

static void add_rules(struct sbuf *b, const struct m2m_vpn_profile *p, const char *verdict)
{
	for (int v6 = 0; v6 <= 1; v6++) {
		if (!has_family(p, v6)) {
			/*
			 * A full tunnel of one family must not leave the other one
			 * open (IPv6 on a cellular link beside an IPv4 tunnel).
			 */
			if (full_tunnel(p))
				sb_printf(b, "    meta nfproto %s counter %s\n", v6 ? "ipv6" : "ipv4",
					  verdict);
			continue;
		}
		sb_printf(b, "    %s daddr { ", v6 ? "ip6" : "ip");
		add_prefixes(b, p, v6);
		sb_printf(b, " } counter %s\n", verdict);
	}
}

int vpn_guard_install(const struct m2m_vpn_profile *p, struct m2m_err *err)
{
	struct gw_addrs ga;
	struct sbuf b = { 0 };
	char t[80];
	size_t mark;
	int rc;

	table_name(p->name, t, sizeof(t));
	resolve_gateways(p, &ga);
	/* add + delete + add in one transaction: replaces atomically, never a gap */
	sb_printf(&b, "table inet %s\ndelete table inet %s\n", t, t);
	sb_printf(&b, "table inet %s {\n  chain out_guard {\n", t);
	sb_printf(&b, "    type filter hook output priority filter - 1; policy accept;\n");
	sb_printf(&b, "    oifname \"lo\" accept\n    rt ipsec exists accept\n");
	sb_printf(&b, "    oifname \"ipsec*\" accept\n");
	for (int v6 = 0; v6 <= 1; v6++) {
		mark = b.len;
		sb_printf(&b, "    %s daddr { ", v6 ? "ip6" : "ip");
		size_t before = b.len;

		add_gateway_addrs(&b, &ga, v6 ? AF_INET6 : AF_INET);
		if (b.len == before)
			b.len = mark; /* no gateway address of this family */
		else
			sb_printf(&b, " } udp dport { 500, 4500 } accept\n");
	}
	add_rules(&b, p, "reject with icmpx admin-prohibited");
	sb_printf(&b, "  }\n  chain fwd_guard {\n");
	sb_printf(&b, "    type filter hook forward priority filter - 1; policy accept;\n");
	sb_printf(&b, "    rt ipsec exists accept\n    oifname \"ipsec*\" accept\n");
	add_rules(&b, p, "drop");
	sb_printf(&b, "  }\n}\n");
	free_gateways(&ga);
	if (b.oom) {
		free(b.s);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	b.s[b.len] = '\0';
	rc = nft_run(b.s, false, err);
	free(b.s);
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
	rc = vpn_guard_install(p, err);
	if (rc || !mrc)
		return rc;
	/* in place, but a later "down" may not know to lift it: the caller must hear it */
	if (err) {
		*err = merr;
		m2m_err_prefix(err, "fail-closed guard: its marker");
	}
	return mrc;
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
	bool marked = false;
	int rc;

	marker_name(p->name, name, sizeof(name));
	/* no state directory: no marker (a failed open leaves st closed) */
	if (m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL) == M2M_OK)
		marked = m2m_state_exists(&st, name);
	if (!p->fail_closed && !marked) {
		m2m_state_close(&st);
		return M2M_OK;
	}
	rc = vpn_guard_remove(p->name, err);
	if (rc == M2M_OK && marked)
		m2m_state_remove(&st, name, NULL);
	m2m_state_close(&st);
	return rc;
}

int vpn_guard_remove(const char *profile, struct m2m_err *err)
{
	char t[80], cmd[200];

	table_name(profile, t, sizeof(t));
	/* "add" first so removing an absent guard is not an error */
	snprintf(cmd, sizeof(cmd), "table inet %s\ndelete table inet %s\n", t, t);
	return nft_run(cmd, false, err);
}

bool vpn_guard_active(const char *profile)
{
	char t[80], cmd[120];

	table_name(profile, t, sizeof(t));
	snprintf(cmd, sizeof(cmd), "list table inet %s", t);
	return nft_run(cmd, true, NULL) == M2M_OK;
}

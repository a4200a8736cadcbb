/* SPDX-License-Identifier: MIT */
/*
 * Where nftables' rules stand: the kernel counts every committed change to
 * any table of a network namespace (its generation, NFT_MSG_GETGEN; nft
 * checks its own dumps against it), the namespace has a cookie never reused
 * while the system runs (SO_NETNS_COOKIE), and the boot its id. Asked on a
 * raw netlink socket: one request and one answer, where loading libnftables
 * to list a table costs milliseconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "base/base.h"
#include "net/net.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* The generation from a NEWGEN answer; false for anything else (an error: no right to ask). */
static bool parse_gen(const uint8_t *buf, size_t len, uint32_t *id)
{
	const struct nlmsghdr *nh = (const void *)buf;
	size_t off;

	if (len < sizeof(*nh) || nh->nlmsg_len > len ||
	    nh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN) ||
	    nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nfgenmsg)))
		return false;
	off = NLMSG_LENGTH(sizeof(struct nfgenmsg));
	while (off + sizeof(struct nlattr) <= nh->nlmsg_len) {
		const struct nlattr *a = (const void *)(buf + off);

		if (a->nla_len < sizeof(*a) || off + a->nla_len > nh->nlmsg_len)
			return false;
		if ((a->nla_type & NLA_TYPE_MASK) == NFTA_GEN_ID && a->nla_len >= NLA_HDRLEN + 4) {
			const uint8_t *v = buf + off + NLA_HDRLEN;

			*id = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
			return true;
		}
		off += NLA_ALIGN(a->nla_len);
	}
	return false;
}

int net_nft_generation(char *out, size_t len, struct m2m_err *err)
{
	struct {
		struct nlmsghdr nh;
		struct nfgenmsg g;
	} req = {
		.nh = {
			.nlmsg_len = sizeof(req),
			.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN,
			.nlmsg_flags = NLM_F_REQUEST,
			.nlmsg_seq = 1,
		},
		.g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0 },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 1 };
	uint8_t buf[512] __attribute__((aligned(4)));
	socklen_t cl = sizeof(uint64_t);
	uint64_t cookie = 0;
	char boot[37];
	uint32_t id;
	ssize_t n;
	int s;

	if (!m2m_boot_id(boot))
		return m2m_err_set(err, M2M_ERR_FAILURE, "nftables generation: no boot id");
	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (s < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "netlink socket: %s", strerror(errno));
	/* the kernel answers at once; the limit only guards against the unforeseen */
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &cl) != 0 ||
	    sendto(s, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) != (ssize_t)sizeof(req)) {
		int e = errno;

		close(s);
		return m2m_err_set(err, M2M_ERR_FAILURE, "nftables generation: %s", strerror(e));
	}
	do
		n = recv(s, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	close(s);
	if (n <= 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "nftables generation: no answer");
	if (!parse_gen(buf, (size_t)n, &id)) {
		const struct nlmsghdr *nh = (const void *)buf;
		const struct nlmsgerr *ne = NLMSG_DATA(nh);

		if ((size_t)n >= NLMSG_LENGTH(sizeof(*ne)) && nh->nlmsg_type == NLMSG_ERROR && ne->error < 0)
			return m2m_err_set(err, M2M_ERR_FAILURE, "nftables generation: %s",
					   strerror(-ne->error));
		return m2m_err_set(err, M2M_ERR_FAILURE, "nftables generation: an answer of another kind");
	}
	snprintf(out, len, "%s:%llu:%u", boot, (unsigned long long)cookie, id);
	return M2M_OK;
}

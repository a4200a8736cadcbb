/* SPDX-License-Identifier: MIT */
/*
 * nftables' change notifications (multicast group NFNLGRP_NFTABLES on
 * NETLINK_NETFILTER, what `nft monitor` reads), on a raw netlink socket.
 * Whoever keeps rules in place only needs to hear that something changed and
 * then looks at its own rules again (through libnftables), so the messages
 * are not decoded: libmnl and libnftnl would be two more libraries for a
 * socket, a bind and a drain.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "base/base.h"
#include "net/net.h"

int net_nft_monitor_open(int *fd, struct m2m_err *err)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int s, grp = NFNLGRP_NFTABLES, big = 1 << 20;

	*fd = -1;
	s = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (s < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "netlink socket: %s", strerror(errno));
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(s, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) < 0) {
		int e = errno;

		close(s);
		return m2m_err_set(err, M2M_ERR_FAILURE, "nftables notifications: %s", strerror(e));
	}
	/* a whole ruleset flushed at once is many messages: better not to lose them (ENOBUFS is handled too) */
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	*fd = s;
	return M2M_OK;
}

bool net_nft_monitor_drain(int fd)
{
	char buf[8192];
	bool changed = false;

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			changed = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* ENOBUFS: messages were lost, so something changed */
		if (n < 0 && errno == ENOBUFS) {
			changed = true;
			continue;
		}
		return changed;
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * Packet filtering through nftables, for the modules that keep traffic in
 * check (the VPN's fail-closed guard, later the quarantine). They decide what
 * the rules say; this runs them. Internal to libm2m.
 */
#ifndef M2M_NET_H
#define M2M_NET_H

#include <stdbool.h>

#include "m2m/m2m.h"

/*
 * Run an nftables script (nft's own syntax, one or more commands applied as
 * one transaction) through libnftables. FAILURE with "nftables: <nft's first
 * error line>", or that libnftables is not installed. quiet: no message, only
 * the result (for probes such as "list table", where failing is an answer).
 * output (may be NULL): what nft printed (listings without counter values),
 * the caller frees it.
 */
int net_nft_run(const char *script, bool quiet, char **output, struct m2m_err *err);

/*
 * A libnftables context kept open: its netlink socket stays the same, so a
 * table it makes with "flags owner" is its own (no other process can change
 * or delete it, `nft flush ruleset` passes it by) until net_nft_close(), when
 * the kernel removes it.
 */
struct net_nft;
int net_nft_open(struct net_nft **n, struct m2m_err *err);
int net_nft_exec(struct net_nft *n, const char *script, bool quiet, char **output,
		 struct m2m_err *err);
void net_nft_close(struct net_nft *n);

/*
 * nftables' change notifications (NFNLGRP_NFTABLES, as `nft monitor` shows
 * them): a non-blocking socket that becomes readable when any table, chain,
 * rule or set changes. drain reads all that is queued; true if there was any.
 */
int net_nft_monitor_open(int *fd, struct m2m_err *err);
bool net_nft_monitor_drain(int fd);

/*
 * Where nftables' rules stand in this network namespace, as a word
 * ("<boot id>:<namespace cookie>:<generation>", at most NET_NFT_GEN_LEN - 1
 * characters): the same word later means no rule of the namespace changed in
 * between, in this boot. Cheap (one netlink request, no libnftables); needs
 * CAP_NET_ADMIN, as any look at the rules does.
 */
#define NET_NFT_GEN_LEN 96
int net_nft_generation(char *out, size_t len, struct m2m_err *err);

#endif

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
 */
int net_nft_run(const char *script, bool quiet, struct m2m_err *err);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Packet filtering through nftables, for the modules that keep traffic in
 * check (the VPN's fail-closed guard, the policies' quarantine). They decide what
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

/*
 * The script that makes table (inet family) hold body and nothing else, in
 * one transaction that never leaves a gap (add, delete, add); owner: a table
 * of the context that runs it (net_nft_exec()). NULL when out of memory.
 */
char *net_table_script(const char *table, bool owner, const char *body);
/* Delete table (inet family); a table that is not there is no error. */
int net_table_delete(const char *table, struct m2m_err *err);

/*
 * A table kept whole (table.c): made from a body of rules and recorded in a
 * state directory with a tag the caller chooses (the guard: its tunnel
 * device), where nftables' rules stood and the table as nftables lists it.
 * Whole means nftables still lists it as recorded, under the same tag; it is
 * put back from the recorded body, so no name is looked up again.
 */
struct net_kept {
	const char *dir;    /* the state directory of the record */
	const char *record; /* the record's file name in it */
	const char *table;  /* the table's name (inet family) */
	const char *what;   /* what it is, for errors: "fail-closed guard" */
};
struct net_kept_record {
	char *buf; /* the file, split in place */
	const char *tag, *gen, *listing, *body;
};
/* Make the table hold body and record it under tag ("" for none). */
int net_kept_apply(const struct net_kept *k, const char *tag, const char *body, struct m2m_err *err);
/* The record; false if there is none or it is not one. */
bool net_kept_load(const struct net_kept *k, struct net_kept_record *r);
void net_kept_record_free(struct net_kept_record *r);
/*
 * Whether the table holds what its record says, under tag. Cheap when no rule
 * of the namespace changed since (net_nft_generation()); otherwise the table
 * is listed and compared, and refresh records where the rules stand now.
 */
bool net_kept_whole(const struct net_kept *k, const char *tag, bool refresh);
/* Delete the table, then its record. */
int net_kept_remove(const struct net_kept *k, struct m2m_err *err);

#endif

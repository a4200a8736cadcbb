/* SPDX-License-Identifier: MIT */
/*
 * Security policies (the policy: section of m2m.yaml(5)): the device stays
 * within its location fence, keeps the SIM it is bound to and keeps its case
 * shut. A check looks at each, and a broken policy whose action is
 * quarantine cuts the device off but for its management: its VPN gateways
 * (IKE and ESP), its management server and quarantine.allow. A quarantine
 * stays, across reboots, until it is released; every change is written to
 * an audit log whose records are chained by SHA-256.
 */
#ifndef M2M_POLICY_H
#define M2M_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "m2m/config.h"
#include "m2m/m2m.h"

#ifdef __cplusplus
extern "C" {
#endif

enum m2m_policy_verdict {
	M2M_POLICY_OFF = 0,     /* not configured: not looked at */
	M2M_POLICY_HOLDS = 1,   /* the policy holds */
	M2M_POLICY_BROKEN = 2,  /* broken: outside the fence, another SIM or none, the case open */
	M2M_POLICY_UNKNOWN = 3, /* its input could not be read: no usable fix, no ModemManager,
				   an unreadable switch */
};

/* One policy's last look. */
struct m2m_policy_look {
	enum m2m_policy_verdict verdict;
	enum m2m_policy_action action; /* what the verdict does (UNKNOWN location: no_fix) */
	int rc;                        /* UNKNOWN: why, an enum m2m_rc; otherwise M2M_OK */
	int64_t since;                 /* unix seconds since the verdict is what it is */
	char detail[192];              /* for people, such as "1.2 km from the fence's centre" */
};

#define M2M_POLICY_STATUS_VERSION 2
/* The --json schema of m2mdm-policy status and check. */
#define M2M_POLICY_SCHEMA "m2m.policy/1"

struct m2m_policy_status {
	unsigned version;          /* set by the caller: M2M_POLICY_STATUS_VERSION (1 or 2); the
				      library fills what that version has, no more */
	bool quarantined;          /* a quarantine is in force */
	bool quarantine_whole;     /* quarantined, and its rules are in place as made */
	int64_t quarantined_since; /* unix seconds */
	char reason[256];          /* what put it there, such as "tamper: the case is open" */
	int64_t checked;           /* unix seconds of the last check; 0: none yet */
	struct m2m_policy_look location, sim, tamper;
	char bound_iccid[24];      /* the SIM the device is bound to; "" if none yet */
	bool audit_intact;         /* the audit log's chain was read whole */
	unsigned audit_records;    /* records in the audit log (seq of the last one) */
	char audit_head[65];       /* SHA-256 (hex) of its last record; "" if empty */
	/* version 2: policy.counters' last looks, by enum m2m_policy_counter */
	struct m2m_policy_look counters[M2M_POLICY_N_COUNTERS];
	int64_t released_ms;       /* unix milliseconds of the last release; 0: none. A counter
				      counts the events after it: a release starts every count afresh */
};

/*
 * Look at each configured policy within timeout_ms (0: policy.timeout) or
 * until *stop, write what changed to the audit log, and put the device in
 * quarantine when a policy whose action is quarantine is broken. A quarantine
 * already in force is made whole again if its rules were changed or flushed.
 * Nothing is released here. One check at a time (BUSY). M2M_OK and *st
 * filled (st may be NULL) even when a policy is broken: st->quarantined says
 * whether the device is cut off; CONFIG if there is no policy: section.
 * Release, apply, status and audit work without one: a quarantine outlives
 * a policy: section taken out of the configuration.
 */
int m2m_policy_check(const struct m2m_config *cfg, unsigned timeout_ms, volatile const int *stop,
		     m2m_log_fn log, void *log_ctx, struct m2m_policy_status *st,
		     struct m2m_err *err);

/* What the last check found and whether the quarantine is whole; reads no input. */
int m2m_policy_status(const struct m2m_config *cfg, struct m2m_policy_status *st,
		      struct m2m_err *err);

/*
 * Lift the quarantine; reason (required, one line) goes to the audit log
 * with the caller's uid. A policy still broken puts it back at the next check.
 */
int m2m_policy_release(const struct m2m_config *cfg, const char *reason, struct m2m_err *err);

/*
 * At boot, before the network: a quarantine in force is put back in place
 * from its record (no name is looked up). M2M_OK if there is none.
 */
int m2m_policy_apply(const struct m2m_config *cfg, struct m2m_err *err);

/*
 * Hold a quarantine in force while the caller runs (m2mdm-policy watch, a
 * service): nftables' change notifications start a look at once, and the
 * quarantine's table, compared rule by rule with what it was made to hold,
 * is put back when it was flushed, deleted or changed (a firewall reload,
 * `nft flush ruleset`, a chain or rule deleted), within milliseconds; each
 * restore is an audit record ("restored"). Meanwhile the caller's own copy
 * of the table (m2m_quarantine_watch, owned by its netlink socket: no other
 * process can change it and a flush passes it by) holds the traffic; it goes
 * when the quarantine is released and when the watch ends. A released
 * quarantine is never put back (looked at under the policy lock). Restores
 * are rate-limited: 5 at once, then one every 5 minutes (at most 17 in any
 * hour; the copy holds meanwhile). A new quarantine is taken up within a
 * second. With policy.counters, security events are counted as they are
 * written (inotify on the state directory): within 100 ms, at most ten counts
 * a second however many come, under the policy lock as a check counts them
 * (a verdict changed is audited; a counter whose action is quarantine
 * quarantines). One watch at a time (BUSY); works without a policy: section.
 * Runs until *stop (set it from a signal handler; NULL is USAGE), seen
 * within 250 ms. It is m2m_policy_watch_open(), a loop of poll() and
 * m2m_policy_watch_step(), and m2m_policy_watch_close().
 */
int m2m_policy_watch(const struct m2m_config *cfg, volatile const int *stop, m2m_log_fn log,
		     void *log_ctx, struct m2m_err *err);

/*
 * The same in an application's own poll loop: poll m2m_policy_watch_fd() for
 * POLLIN along with its own fds, at most the *next_ms the last step returned
 * (at most 1000), and call m2m_policy_watch_step() when it is readable or
 * the time has passed. Steps run nft and write the state directory: each
 * returns within tens of milliseconds and never waits for the policy lock,
 * but for one whose count begins a quarantine, which looks its names up
 * (within policy.timeout, at most 3 s) as a check does.
 */
struct m2m_policy_watch;
/*
 * The watch lock (BUSY if another watch has it), a libnftables context that
 * will own the copy, and the notifications. log (may be NULL) is called only
 * from inside open, step and close. cfg must outlive the handle.
 */
int m2m_policy_watch_open(const struct m2m_config *cfg, m2m_log_fn log, void *log_ctx,
			  struct m2m_policy_watch **out, struct m2m_err *err);
/*
 * The fd (an epoll set) that becomes readable when nftables' rules change or
 * the state directory's security-events is written; -1 when the kernel gives
 * neither notification (then the steps alone, every second). Do not read it
 * or close it.
 */
int m2m_policy_watch_fd(const struct m2m_policy_watch *w);
/* Do what is due, without waiting; *next_ms: until the next step at the latest. */
int m2m_policy_watch_step(struct m2m_policy_watch *w, unsigned *next_ms, struct m2m_err *err);
/* Stop: the copy goes, the quarantine's table stays. NULL is a no-op. */
void m2m_policy_watch_close(struct m2m_policy_watch *w);

/* One record of the audit log. */
struct m2m_policy_audit_record {
	unsigned seq;       /* 1, 2, ... over the life of the log */
	int64_t time;       /* unix seconds */
	const char *event;  /* "broken", "holds", "unknown", "quarantine", "restored",
			       "release", "sim-bound", "boot", "log-broken",
			       "wipe", "rotated" */
	const char *policy; /* "location", "sim", "tamper", or "" */
	const char *detail; /* for people */
	const char *hash;   /* SHA-256 (hex) of the record's text */
};
typedef int (*m2m_policy_audit_fn)(void *ctx, const struct m2m_policy_audit_record *r);

/*
 * Read the audit log in order, checking each record's chain to the one
 * before; fn (may be NULL) for each. INTEGRITY if a record was changed,
 * removed or put in between; a non-zero return of fn stops and is returned.
 */
int m2m_policy_audit(const struct m2m_config *cfg, m2m_policy_audit_fn fn, void *ctx,
		     struct m2m_err *err);

const char *m2m_policy_verdict_name(enum m2m_policy_verdict v);
const char *m2m_policy_action_name(enum m2m_policy_action a);

#ifdef __cplusplus
}
#endif

#endif

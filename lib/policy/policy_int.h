/* SPDX-License-Identifier: MIT */
/*
 * What the files of lib/policy share: the inputs a policy looks at (the
 * position from gpsd, the SIM from ModemManager), the geometry of a fence,
 * the audit log and the quarantine. Internal to libm2m.
 */
#ifndef M2M_POLICY_INT_H
#define M2M_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m2m/m2m.h"
#include "state/state.h"

struct m2m_config;
struct m2m_policy_config;
struct m2m_policy_status;
struct m2m_policy_audit_record;
struct m2m_state;
struct net_nft;

/* ---- the position (gpsd.c) ---- */

/* One fix as gpsd reports it in a TPV object (gpsd_json(5)). */
struct pol_fix {
	int mode;       /* 2: 2D fix, 3: 3D fix (a TPV with mode 0/1 is no fix) */
	double lat;     /* degrees, WGS84, -90..90 */
	double lon;     /* degrees, WGS84, -180..180 */
	double eph;     /* estimated horizontal error in metres; NAN if gpsd gave none */
	int64_t time;   /* the fix's UTC time in unix seconds; 0 if the TPV had none */
};

/*
 * One line of gpsd's JSON protocol (without its newline; need not be
 * NUL-terminated; white space after the object, as gpsd's CR, is allowed).
 * 1: the line held a fix (a TPV, or the newest TPV of a POLL answer by its
 * time, with mode >= 2 and lat and lon in range), written to *fix; 0: a valid
 * object without a fix (VERSION, DEVICES, WATCH, SKY, a TPV with mode < 2 or
 * without lat or lon, a POLL without one); -1: not gpsd's JSON (not one
 * object, no "class", a TPV without "mode", a TPV's field of the wrong type
 * or out of range, a "time" that is not ISO 8601 UTC, a NUL in the line, more
 * than 64 KiB). *fix is written only on 1. Never reads past len.
 */
int pol_gpsd_line(const char *line, size_t len, struct pol_fix *fix);

/*
 * Ask gpsd at host:port (a name or address; port a number) for the current fix:
 * connect, ?WATCH={"enable":true,"json":true};?POLL; and read its lines until a
 * fix (the POLL's last one, or the next TPV) or deadline_ms (m2m_now_ms()
 * clock; the name lookup, the connect and every read are inside it) or *stop
 * (may be NULL; looked at at least every 100 ms).
 * M2M_OK: *fix is a fix (mode >= 2). DAEMON: gpsd is not there (refused, no
 * such name, it closed the connection). TIMEOUT: no fix by the deadline (gpsd
 * answered but has none, or nothing answered), or stopped. PROTOCOL: what
 * answered is not gpsd (a line that is not its JSON, a line longer than 64 KiB,
 * more than 1 MiB without a fix). CONFIG: no host, or port not 1-65535.
 * The error names gpsd and host:port. Not libgps: see gpsd.c.
 */
int pol_gpsd_fix(const char *host, const char *port, uint64_t deadline_ms, volatile const int *stop,
		 struct pol_fix *fix, struct m2m_err *err);

/* ---- the SIM (sim.c) ---- */

/*
 * The SIM of the first modem ModemManager manages (by object path: the lowest
 * modem number, /Modem/2 before /Modem/10).
 */
struct pol_sim {
	bool modem;          /* ModemManager manages a modem */
	bool present;        /* the modem holds a SIM (its Sim property is not "/") */
	char iccid[24];      /* SimIdentifier: the card's serial (ICCID), "" if unknown */
	char imsi[16];       /* Imsi: the subscriber, "" if unknown */
	char operator_id[8]; /* OperatorIdentifier: MCC+MNC, "" if unknown */
};

/*
 * Read the SIM through ModemManager's D-Bus API (org.freedesktop.ModemManager1)
 * on the bus at address (a D-Bus address such as unix:path=/run/dbus/system_bus_socket;
 * NULL: the system bus, $DBUS_SYSTEM_BUS_ADDRESS or that socket), within
 * deadline_ms (m2m_now_ms() clock; the connect, the handshake and every call
 * are inside it) or until *stop (may be NULL; looked at at least every 100 ms).
 * Afresh at every call: nothing is kept between calls, and ModemManager is not
 * started by it (D-Bus activation is off for these calls).
 * M2M_OK with sim->modem false when ModemManager runs and manages no modem,
 * sim->present false when the modem has no SIM (its Sim is "/").
 * DAEMON: no bus, ModemManager not on it, or libsystemd.so.0 (sd-bus, loaded
 * at the first call) not installed. TIMEOUT: no answer in time, or stopped.
 * PROTOCOL: an answer of the wrong shape. Strings from the bus are kept only
 * if printable ASCII and a value of their field (an ICCID: digits, a trailing
 * F allowed, at most 22; an IMSI: at most 15 digits; an operator: 5 or 6
 * digits; "" is unknown); otherwise PROTOCOL. CONFIG: an address that is not
 * unix: (a tcp: host name's lookup could not be bounded). On an error *sim is
 * all zero.
 */
int pol_sim_read(const char *bus, uint64_t deadline_ms, volatile const int *stop, struct pol_sim *sim,
		 struct m2m_err *err);

/* ---- the fence (geo.c) ---- */

/* Great-circle distance in metres between two points (degrees, WGS84 as a sphere). */
double pol_distance_m(double lat1, double lon1, double lat2, double lon2);

/*
 * The location policy's verdict on a fix (now: unix seconds): UNKNOWN when
 * there is no usable fix (none, older than max_age, or an error estimate
 * larger than the fence), BROKEN when the fix is outside the circle by more
 * than its error estimate, HOLDS otherwise; detail says so in words.
 */
int pol_fence_verdict(const struct m2m_policy_config *pc, const struct pol_fix *fix, int64_t now,
		      char *detail, size_t len);

/* ---- the quarantine (quarantine.c) ---- */

/*
 * Cut the device off but for its management: addresses as written, names
 * looked up until end (m2m_now_ms() clock; at most 3 s in all); every name
 * that did not resolve is left out and named in missed ("" if none).
 */
int pol_quarantine_enter(const struct m2m_config *cfg, uint64_t end, char *missed, size_t mlen,
			 struct m2m_err *err);
/*
 * Look the names up again (until end, as enter does) and make the rules anew
 * if their addresses changed and every name resolved; *changed says so.
 */
int pol_quarantine_refresh(const struct m2m_config *cfg, uint64_t end, bool *changed,
			   struct m2m_err *err);
/* Whether the quarantine's table holds what it was made to hold (refresh: see net_kept_whole()). */
bool pol_quarantine_whole(const struct m2m_config *cfg, bool refresh);
/* Put the recorded rules back; no record: made of the addresses written as such. No lookup. */
int pol_quarantine_restore(const struct m2m_config *cfg, struct m2m_err *err);
/* The quarantine's record in the state directory (lib/net's kept table). */
#define POL_QUARANTINE_RECORD "policy-quarantine-rules"
/* Whether a record of the quarantine's rules exists (it is in force). */
bool pol_quarantine_recorded(const struct m2m_config *cfg);
/* Remove the table, then its record. */
int pol_quarantine_leave(const struct m2m_config *cfg, struct m2m_err *err);
/*
 * The watch's copy of the table (flags owner: hold, whose context owns it, is
 * the only one that can change it): made from the record's rules when they
 * are not the ones *held says it holds, deleted when there is no record (a
 * release). *held: the rules the copy holds, NULL for no copy (the caller
 * frees it); it changes only with the copy. *in_force: there is a record.
 */
int pol_quarantine_hold(struct net_nft *hold, const struct m2m_config *cfg, char **held,
			bool *in_force, struct m2m_err *err);
/*
 * The watch's restore (policy.c): under the policy lock, not waited for (BUSY
 * while a check, release or apply holds it), a quarantine in force whose
 * rules are not whole is put back from its record and the audit log gets a
 * "restored" record (detail, then the quarantine's reason). *restored says
 * whether it was: one released meanwhile is not put back.
 */
int pol_quarantine_put_back(const struct m2m_config *cfg, const char *detail, bool *restored,
			    struct m2m_err *err);

/*
 * The watch's count (policy.c), when security events were written: under the
 * policy lock, not waited for (BUSY while a check, release or apply holds
 * it), the counters are counted as a check counts them (m2m_policy_check's
 * own code: since the last release, each over its window), a verdict changed
 * goes to the audit log and the log, and one whose action is quarantine puts
 * the device in quarantine (names looked up within policy.timeout, at most
 * 3 s) with the check's "quarantine" record; *entered says it did. The other
 * looks are the last check's, and are not looked at again. The state is
 * written only when a verdict changed. Without a policy: section, nothing.
 */
int pol_counters_count(const struct m2m_config *cfg, m2m_log_fn log, void *log_ctx,
		       bool *entered, struct m2m_err *err);

/* ---- the watch's restores, rate-limited (watch.c) ---- */

/*
 * A bucket of POL_RESTORE_BURST restores, one more every POL_RESTORE_EVERY_MS
 * up to as many: in any hour at most 5 + 12, however the rules are fought over.
 */
#define POL_RESTORE_BURST 5
#define POL_RESTORE_EVERY_MS (5 * 60 * 1000)
struct pol_bucket {
	unsigned n;   /* restores left, as of at */
	uint64_t at;  /* m2m_now_ms() of the last refill */
};
void pol_bucket_init(struct pol_bucket *b, uint64_t now);
/* Whether one is left at now; *next: when one is (now if one is left). */
bool pol_bucket_ready(struct pol_bucket *b, uint64_t now, uint64_t *next);
/* Take one (none left: nothing taken). */
void pol_bucket_take(struct pol_bucket *b, uint64_t now);

/* ---- what the last check found (pstate.c) ---- */

#define POL_STATE_NAME "policy-state"
/* The state directory of the config (state_dir or M2M_STATE_DEFAULT_DIR). */
const char *pol_state_dir(const struct m2m_config *cfg);
/* The SIM the device was bound to at first sight, kept apart from the state: "" if none. */
void pol_binding_load(const struct m2m_state *s, char *iccid, size_t len);
int pol_binding_save(const struct m2m_state *s, const char *iccid, struct m2m_err *err);
/* Read the state into st (a fresh one if there is none); a damaged one is moved aside. */
int pol_state_load(const struct m2m_state *s, struct m2m_policy_status *st, struct m2m_err *err);
int pol_state_save(const struct m2m_state *s, const struct m2m_policy_status *st, struct m2m_err *err);

/* ---- the audit log (audit.c) ---- */

#define POL_AUDIT_NAME "policy-audit"
#define POL_AUDIT_MAX (512 * 1024)  /* one file; the log keeps two: this and the one before */
#define POL_HASH_HEX 65

struct pol_audit {
	unsigned seq;               /* of the last record, 0 if none */
	char head[POL_HASH_HEX];    /* SHA-256 (hex) of the last record, "" if none */
	int64_t first_time;         /* of the first record kept */
};

/*
 * Read the log (the file before, then this one), check every link of the
 * chain and call fn for each record (fn may be NULL). INTEGRITY when a link
 * or a record's form is broken, naming the record.
 */
int pol_audit_read(const struct m2m_state *st, struct pol_audit *a,
		   int (*fn)(void *ctx, const struct m2m_policy_audit_record *r), void *ctx,
		   struct m2m_err *err);
/* Append one record (event, policy may be "", detail) chained to the head; a full file starts the next. */
int pol_audit_append(const struct m2m_state *st, struct pol_audit *a, int64_t now, const char *event,
		     const char *policy, const char *detail, struct m2m_err *err);
/* A record as its text holds it (a JSON object, one line). */
struct pol_audit_rec {
	unsigned seq;
	int64_t time;
	char event[16], policy[24], detail[256], prev[POL_HASH_HEX];
};
/* The record's text (len bytes, need not be NUL-terminated) into r; false if it is not one. */
bool pol_audit_parse(const char *rec, size_t len, struct pol_audit_rec *r);

/* ---- a run of the engine (run.c): the state directory, the lock, the audit log ---- */
struct pol_run {
	const struct m2m_config *cfg;
	const struct m2m_policy_config *pc;
	struct m2m_state st;
	int lock;
	struct pol_audit audit;
	bool audit_ok;   /* the log's chain was read whole: records may be appended */
	m2m_log_fn log;
	void *log_ctx;
	int64_t now;
};

/* A line to the run's log callback, if it has one. */
void pol_say(struct pol_run *r, int prio, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An audit record; a failure to write one is said, and the run goes on. */
void pol_note(struct pol_run *r, const char *event, const char *policy, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * The state directory, the lock (waited for lock_ms; < 0: none, a reader)
 * and the audit log's head; a log whose chain is broken is set aside under
 * the lock and a new one begun.
 */
int pol_run_open(struct pol_run *r, const struct m2m_config *cfg, int lock_ms, struct m2m_err *err);
void pol_run_close(struct pol_run *r);

#endif

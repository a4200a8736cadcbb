/* SPDX-License-Identifier: MIT */
/*
 * The policy engine (m2m/policy.h): one check looks at each configured
 * policy, writes what changed to the audit log and quarantines the device
 * when a policy whose action says so is broken. A quarantine is sticky: only
 * a release lifts it, and the next check puts it back while a policy is still
 * broken. One check at a time (a lock in the state directory); the whole
 * check holds to one deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/policy.h"
#include "policy/policy.h"
#include "policy/policy_int.h"
#include "state/state.h"

/* ---- the looks ---- */

/* One fix from gpsd and its verdict; M2M_OK or why there is no fix. */
static int one_fix(struct pol_run *r, uint64_t end, volatile const int *stop, struct pol_fix *fix,
		   struct m2m_policy_look *l)
{
	struct m2m_err e;
	int rc;

	m2m_err_clear(&e);
	rc = pol_gpsd_fix(r->pc->gpsd_host, r->pc->gpsd_port, end, stop, fix, &e);
	if (rc) {
		l->verdict = M2M_POLICY_UNKNOWN;
		l->rc = rc;
		snprintf(l->detail, sizeof(l->detail), "%.*s", (int)sizeof(l->detail) - 1, e.msg);
		return rc;
	}
	l->verdict = (enum m2m_policy_verdict)pol_fence_verdict(r->pc, fix, (int64_t)time(NULL),
								l->detail, sizeof(l->detail));
	l->rc = l->verdict == M2M_POLICY_UNKNOWN ? M2M_ERR_TIMEOUT : M2M_OK;
	return M2M_OK;
}

/*
 * A fix outside is confirmed by one of a later epoch (within CONFIRM_MS): a
 * quarantine is not lifted by itself, so one wild fix (multipath, a receiver
 * that reports an epoch before its error estimate) must not start one. The
 * later fix decides: back inside, or none, is not outside.
 */
#define CONFIRM_MS 2500

static void look_location(struct pol_run *r, uint64_t end, volatile const int *stop,
			  struct m2m_policy_look *l)
{
	struct m2m_policy_look again;
	struct pol_fix first, fix;
	uint64_t until;
	bool later = false;

	if (one_fix(r, end, stop, &first, l) == M2M_OK && l->verdict == M2M_POLICY_BROKEN) {
		until = m2m_now_ms() + CONFIRM_MS;
		if (until > end)
			until = end;
		while (!later && m2m_now_ms() + 250 < until && m2m_sleep_ms(250, stop)) {
			memset(&again, 0, sizeof(again));
			if (one_fix(r, until, stop, &fix, &again) != M2M_OK)
				break;
			/* without times, any fix asked for later is a later one */
			if (!first.time || fix.time > first.time) {
				later = true;
				*l = again;
			}
		}
		if (!later) {
			l->verdict = M2M_POLICY_UNKNOWN;
			l->rc = M2M_ERR_TIMEOUT;
			snprintf(l->detail, sizeof(l->detail),
				 "a fix outside the fence was not confirmed by a later one within %u ms",
				 CONFIRM_MS);
		}
	}
	l->action = l->verdict == M2M_POLICY_UNKNOWN ? r->pc->no_fix : r->pc->outside;
}

/* Two ICCIDs the same, the padding F (ITU-T E.118) left out of either. */
static bool same_iccid(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	if (na && (a[na - 1] == 'F' || a[na - 1] == 'f'))
		na--;
	if (nb && (b[nb - 1] == 'F' || b[nb - 1] == 'f'))
		nb--;
	return na == nb && strncmp(a, b, na) == 0;
}

/*
 * bound: the ICCID configured, or the one bound at first sight (its own
 * record, apart from the state: a damaged state must not bind the next SIM).
 */
static void look_sim(struct pol_run *r, struct m2m_policy_status *st, uint64_t end,
		     volatile const int *stop, struct m2m_policy_look *l)
{
	char first[24];
	const char *bound;
	struct pol_sim sim;
	struct m2m_err e;
	int rc;

	pol_binding_load(&r->st, first, sizeof(first));
	bound = r->pc->sim_iccid ? r->pc->sim_iccid : first;
	snprintf(st->bound_iccid, sizeof(st->bound_iccid), "%s", bound);
	m2m_err_clear(&e);
	l->action = r->pc->sim_changed;
	rc = pol_sim_read(r->pc->sim_bus, end, stop, &sim, &e);
	if (rc) {
		l->verdict = M2M_POLICY_UNKNOWN;
		l->rc = rc;
		snprintf(l->detail, sizeof(l->detail), "%.*s", (int)sizeof(l->detail) - 1, e.msg);
		l->action = M2M_POLICY_LOG;
		return;
	}
	if (!sim.modem) {
		/* at boot ModemManager may not have found it yet: not a verdict */
		l->verdict = M2M_POLICY_UNKNOWN;
		l->rc = M2M_ERR_DEVICE;
		snprintf(l->detail, sizeof(l->detail), "ModemManager manages no modem");
		l->action = M2M_POLICY_LOG;
		return;
	}
	if (!sim.present) {
		l->verdict = M2M_POLICY_BROKEN;
		snprintf(l->detail, sizeof(l->detail), "the modem holds no SIM%s%s", bound[0] ? "; bound to " : "",
			 bound);
		return;
	}
	if (!sim.iccid[0]) {
		l->verdict = M2M_POLICY_UNKNOWN;
		l->rc = M2M_ERR_DEVICE;
		snprintf(l->detail, sizeof(l->detail), "the SIM's ICCID cannot be read yet");
		l->action = M2M_POLICY_LOG;
		return;
	}
	if (!bound[0]) {
		/* bound to the first SIM seen; not bound if that cannot be kept */
		m2m_err_clear(&e);
		if (pol_binding_save(&r->st, sim.iccid, &e)) {
			l->verdict = M2M_POLICY_UNKNOWN;
			l->rc = e.rc;
			l->action = M2M_POLICY_LOG;
			snprintf(l->detail, sizeof(l->detail), "%.*s", (int)sizeof(l->detail) - 1, e.msg);
			return;
		}
		snprintf(st->bound_iccid, sizeof(st->bound_iccid), "%s", sim.iccid);
		pol_note(r, "sim-bound", "sim", "bound to the SIM %s (IMSI %s)", sim.iccid,
		      sim.imsi[0] ? sim.imsi : "unknown");
		bound = st->bound_iccid;
	}
	if (!same_iccid(sim.iccid, bound)) {
		l->verdict = M2M_POLICY_BROKEN;
		snprintf(l->detail, sizeof(l->detail), "the SIM %s is not the one bound (%s)", sim.iccid,
			 bound);
		return;
	}
	l->verdict = M2M_POLICY_HOLDS;
	snprintf(l->detail, sizeof(l->detail), "the SIM %s is the one bound", sim.iccid);
}

/*
 * The tamper switch's input: its first word, read without blocking (a FIFO
 * cannot hold us). Nothing to read (an empty file, a FIFO without a writer)
 * is no word, and no verdict: a switch that says nothing does not say shut.
 */
static void look_tamper(struct pol_run *r, struct m2m_policy_look *l)
{
	static const char space[] = " \t\r\n";
	char buf[65], w[33];
	ssize_t n;
	size_t i, j;
	int fd;

	l->action = r->pc->tamper_opened;
	fd = open(r->pc->tamper_input, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		l->verdict = M2M_POLICY_UNKNOWN;
		l->rc = M2M_ERR_DEVICE;
		l->action = M2M_POLICY_LOG;
		snprintf(l->detail, sizeof(l->detail), "%s: %s", r->pc->tamper_input,
			 n < 0 && errno != EAGAIN ? strerror(errno) : "nothing to read");
		return;
	}
	buf[n] = '\0';
	i = strspn(buf, space);
	j = strcspn(buf + i, space);
	m2m_printable(w, sizeof(w), buf + i, j);
	if (!w[0]) {
		l->verdict = M2M_POLICY_UNKNOWN;
		l->rc = M2M_ERR_DEVICE;
		l->action = M2M_POLICY_LOG;
		snprintf(l->detail, sizeof(l->detail), "%s: no word in it", r->pc->tamper_input);
	} else if (strcmp(w, r->pc->tamper_open) == 0) {
		l->verdict = M2M_POLICY_BROKEN;
		snprintf(l->detail, sizeof(l->detail), "the case is open (%s says '%s')",
			 r->pc->tamper_input, w);
	} else {
		l->verdict = M2M_POLICY_HOLDS;
		snprintf(l->detail, sizeof(l->detail), "the case is shut (%s says '%s')",
			 r->pc->tamper_input, w);
	}
}

/* A look's verdict against the last one: a change goes to the audit log and the log callback. */
static void settle(struct pol_run *r, const char *name, const struct m2m_policy_look *old,
		   struct m2m_policy_look *l)
{
	if (old->verdict == l->verdict) {
		l->since = old->since;
		return;
	}
	l->since = r->now;
	pol_note(r, m2m_policy_verdict_name(l->verdict), name, "%s", l->detail);
	pol_say(r, l->verdict == M2M_POLICY_BROKEN ? 4 : 6, "%s: %s: %s", name,
	    m2m_policy_verdict_name(l->verdict), l->detail);
}

static bool quarantines(const struct m2m_policy_look *l)
{
	return l->action == M2M_POLICY_QUARANTINE &&
	       (l->verdict == M2M_POLICY_BROKEN || l->verdict == M2M_POLICY_UNKNOWN);
}

/* The caller's struct: the version it set, filled as far as that version goes (no further). */
static int status_version(const struct m2m_policy_status *out, struct m2m_err *err)
{
	if (out && (out->version < 1 || out->version > M2M_POLICY_STATUS_VERSION))
		return m2m_err_set(err, M2M_ERR_USAGE, "struct m2m_policy_status: version %u unknown",
				   out->version);
	return M2M_OK;
}

static void status_out(struct m2m_policy_status *out, const struct m2m_policy_status *st)
{
	unsigned v;

	if (!out)
		return;
	v = out->version;
	memcpy(out, st, v >= 2 ? sizeof(*st) : offsetof(struct m2m_policy_status, counters));
	out->version = v;
}

/* A counter's look: how many of its events within its window, against its threshold. */
static void look_counter(struct pol_run *r, enum m2m_policy_counter k, int64_t released_ms,
			 struct m2m_policy_look *l)
{
	const struct m2m_policy_count *c = &r->pc->counters[k];
	int64_t now = m2m_unix_ms(), from = now - (int64_t)c->window_ms;
	unsigned n;

	/*
	 * A release starts the count afresh: what led to it is not counted twice
	 * (its time is after every event then, within the minute an event is
	 * believed ahead of the clock). One further ahead (the clock set back
	 * since) is not believed: it would silence the counter until the clock
	 * caught up.
	 */
	if (released_ms >= from && released_ms <= now + 60000)
		from = released_ms + 1;
	n = m2m_state_events_since(pol_state_dir(r->cfg), m2m_policy_counter_name(k), from);
	char win[32];

	l->action = c->action;
	l->verdict = n >= c->threshold ? M2M_POLICY_BROKEN : M2M_POLICY_HOLDS;
	if (c->window_ms % 3600000 == 0)
		snprintf(win, sizeof(win), "%u h", c->window_ms / 3600000);
	else if (c->window_ms % 60000 == 0)
		snprintf(win, sizeof(win), "%u min", c->window_ms / 60000);
	else
		snprintf(win, sizeof(win), "%u s", c->window_ms / 1000);
	snprintf(l->detail, sizeof(l->detail), "%u in the last %s (threshold %u)", n, win,
		 c->threshold);
}

/*
 * The counters: what the tools wrote of the events since, each against its
 * window; a verdict changed goes to the audit log (settle), and true says one did.
 */
static bool count_all(struct pol_run *r, struct m2m_policy_status *st, const struct m2m_policy_status *old)
{
	bool changed = false;

	for (int k = 0; k < M2M_POLICY_N_COUNTERS; k++) {
		memset(&st->counters[k], 0, sizeof(st->counters[k]));
		if (!r->pc->counters[k].threshold)
			continue;
		look_counter(r, k, st->released_ms, &st->counters[k]);
		settle(r, m2m_policy_counter_name(k), &old->counters[k], &st->counters[k]);
		changed |= st->counters[k].verdict != old->counters[k].verdict;
	}
	return changed;
}

/*
 * The first look whose action quarantines (counters only: the counters
 * alone, the other looks being the last check's), its name; NULL if none.
 */
static const char *quarantining(const struct m2m_policy_status *st, bool counters,
				const struct m2m_policy_look **wl)
{
	const struct { const char *name; const struct m2m_policy_look *l; } looks[] = {
		{ "tamper", &st->tamper }, { "sim", &st->sim }, { "location", &st->location },
		{ "vpn-auth", &st->counters[M2M_COUNTER_VPN_AUTH] },
		{ "update-integrity", &st->counters[M2M_COUNTER_UPDATE_INTEGRITY] },
		{ "pin", &st->counters[M2M_COUNTER_PIN] },
	};

	for (size_t i = counters ? 3 : 0; i < sizeof(looks) / sizeof(looks[0]); i++)
		if (quarantines(looks[i].l)) {
			*wl = looks[i].l;
			return looks[i].name;
		}
	*wl = NULL;
	return NULL;
}

/* Quarantine for why (its look wl); names looked up until end. The state is saved. */
static int enter(struct pol_run *r, struct m2m_policy_status *st, const char *why,
		 const struct m2m_policy_look *wl, uint64_t end, struct m2m_err *err)
{
	char missed[256];
	int rc;

	/* the state first: a power cut between the two must leave the quarantine to come back */
	st->quarantined = true;
	st->quarantined_since = r->now;
	snprintf(st->reason, sizeof(st->reason), "%s: %s", why, wl->detail);
	rc = pol_state_save(&r->st, st, err);
	if (!rc)
		rc = pol_quarantine_enter(r->cfg, end, missed, sizeof(missed), err);
	if (!rc) {
		pol_note(r, "quarantine", why, "%s", st->reason);
		pol_say(r, 2, "quarantine: %s", st->reason);
		if (missed[0])
			pol_say(r, 4, "quarantine: not resolved in time, not let through: %s", missed);
	}
	return rc;
}

static void fill_status(struct pol_run *r, struct m2m_policy_status *st)
{
	st->audit_intact = r->audit_ok;
	st->audit_records = r->audit.seq;
	snprintf(st->audit_head, sizeof(st->audit_head), "%s", r->audit.head);
}

/*
 * A quarantine in force kept whole: put back if its rules were changed or
 * gone, made anew if its names now resolve to other addresses (lookups until
 * end; none without a policy: section, whose check does only this).
 */
static int keep(struct pol_run *r, uint64_t end, struct m2m_err *err)
{
	bool changed = false;
	int rc = M2M_OK;

	if (!pol_quarantine_whole(r->cfg, true)) {
		rc = pol_quarantine_restore(r->cfg, err);
		if (!rc) {
			pol_note(r, "restored", "", "the quarantine's rules were changed or gone: put back");
			pol_say(r, 4, "quarantine: its rules were changed or gone: put back");
		}
	}
	if (!rc && end && !(rc = pol_quarantine_refresh(r->cfg, end, &changed, err)) && changed) {
		pol_note(r, "restored", "", "the addresses let through changed: the rules made anew");
		pol_say(r, 5, "quarantine: the addresses let through changed: the rules made anew");
	}
	return rc;
}

/* Without a policy: section nothing is looked at, but a quarantine in force stays whole. */
static int check_without_policy(const struct m2m_config *cfg, m2m_log_fn log, void *log_ctx,
				struct m2m_policy_status *out, struct m2m_err *err)
{
	struct m2m_policy_status st;
	struct pol_run r;
	int rc = pol_run_open(&r, cfg, 0, err);

	if (rc)
		return rc;
	r.log = log;
	r.log_ctx = log_ctx;
	pol_state_load(&r.st, &st, NULL);
	if (!st.quarantined && !pol_quarantine_recorded(cfg)) {
		pol_run_close(&r);
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: no policy: section",
				   cfg->path ? cfg->path : "the configuration");
	}
	st.quarantined = true;
	rc = keep(&r, 0, err);
	st.quarantine_whole = rc == M2M_OK;
	fill_status(&r, &st);
	status_out(out, &st);
	pol_run_close(&r);
	return rc;
}

/*
 * How long a check or a release waits for the lock: the watch's counts and
 * restores hold it for milliseconds each, which under a storm of events came
 * often enough to refuse a release or a check outright. The watch itself
 * never waits (it tries again shortly).
 */
#define USER_LOCK_MS 2000

/*
 * A check's or a count's start: under the lock (waited for up to lock_ms:
 * BUSY then), the state as the last look left it (*old, and *st to be
 * looked at anew).
 */
static int open_looks(struct pol_run *r, const struct m2m_config *cfg, m2m_log_fn log, void *log_ctx,
		      int lock_ms, struct m2m_policy_status *st, struct m2m_policy_status *old,
		      struct m2m_err *err)
{
	struct m2m_err serr;
	int rc = pol_run_open(r, cfg, lock_ms, err);

	if (rc)
		return rc;
	r->log = log;
	r->log_ctx = log_ctx;
	m2m_err_clear(&serr);
	if (pol_state_load(&r->st, st, &serr))
		pol_say(r, 3, "%s", serr.msg);
	*old = *st;
	/* the record of the rules is in force whatever the state file says (a damaged one) */
	if (pol_quarantine_recorded(cfg))
		st->quarantined = true;
	return M2M_OK;
}

int m2m_policy_check(const struct m2m_config *cfg, unsigned timeout_ms, volatile const int *stop,
		     m2m_log_fn log, void *log_ctx, struct m2m_policy_status *out,
		     struct m2m_err *err)
{
	struct m2m_policy_status st, old;
	struct pol_run r;
	uint64_t start, end, sim_end;
	int rc;

	rc = status_version(out, err);
	if (rc)
		return rc;
	if (!cfg->policy)
		return check_without_policy(cfg, log, log_ctx, out, err);
	rc = open_looks(&r, cfg, log, log_ctx, USER_LOCK_MS, &st, &old, err);
	if (rc)
		return rc;
	start = m2m_now_ms();
	end = start + (timeout_ms ? timeout_ms : r.pc->timeout_ms);
	memset(&st.location, 0, sizeof(st.location));
	memset(&st.sim, 0, sizeof(st.sim));
	memset(&st.tamper, 0, sizeof(st.tamper));
	/*
	 * The local input first: it cannot be held up by a daemon. ModemManager gets
	 * half the time when the location is looked at too: one that never answers
	 * must not leave gpsd none (a missing fix can quarantine, a missing SIM not).
	 */
	if (r.pc->tamper)
		look_tamper(&r, &st.tamper);
	sim_end = r.pc->location ? start + (end - start) / 2 : end;
	if (r.pc->sim)
		look_sim(&r, &st, sim_end, stop, &st.sim);
	if (r.pc->location)
		look_location(&r, end, stop, &st.location);
	/* stopped: what was seen meanwhile is no verdict; nothing is settled or kept */
	if (stop && *stop) {
		pol_run_close(&r);
		return m2m_err_set(err, M2M_ERR_TIMEOUT, "policy check stopped: nothing decided");
	}
	if (r.pc->tamper)
		settle(&r, "tamper", &old.tamper, &st.tamper);
	if (r.pc->sim)
		settle(&r, "sim", &old.sim, &st.sim);
	if (r.pc->location)
		settle(&r, "location", &old.location, &st.location);
	count_all(&r, &st, &old);
	st.checked = r.now;

	const struct m2m_policy_look *wl;
	const char *why = quarantining(&st, false, &wl);

	if (why && !st.quarantined) {
		rc = enter(&r, &st, why, wl, end, err);
	} else if (st.quarantined) {
		rc = keep(&r, end, err);
	}
	/* the looks are kept whatever became of the rules: a change is written once */
	if (rc) {
		pol_state_save(&r.st, &st, NULL);
	} else {
		rc = pol_state_save(&r.st, &st, err);
	}
	st.quarantine_whole = st.quarantined && rc == M2M_OK;
	fill_status(&r, &st);
	status_out(out, &st);
	pol_run_close(&r);
	return rc;
}

int pol_counters_count(const struct m2m_config *cfg, m2m_log_fn log, void *log_ctx,
		       bool *entered, struct m2m_err *err)
{
	struct m2m_policy_status st, old;
	const struct m2m_policy_look *wl;
	const char *why;
	struct pol_run r;
	bool changed;
	int rc;

	*entered = false;
	if (!cfg->policy)
		return M2M_OK;
	rc = open_looks(&r, cfg, log, log_ctx, 0, &st, &old, err);
	if (rc)
		return rc;
	changed = count_all(&r, &st, &old);
	why = quarantining(&st, true, &wl);
	if (why && !st.quarantined) {
		rc = enter(&r, &st, why, wl, m2m_now_ms() + r.pc->timeout_ms, err);
		*entered = rc == M2M_OK;
		if (rc)
			pol_state_save(&r.st, &st, NULL);
	} else if (changed) {
		/* a count that changed no verdict is not written: a storm would write the disk each time */
		rc = pol_state_save(&r.st, &st, err);
	}
	pol_run_close(&r);
	return rc;
}

int m2m_policy_status(const struct m2m_config *cfg, struct m2m_policy_status *out,
		      struct m2m_err *err)
{
	struct m2m_policy_status all, *st = &all;
	struct pol_run r;
	int rc = status_version(out, err);

	if (rc)
		return rc;
	memset(st, 0, sizeof(*st));
	st->version = M2M_POLICY_STATUS_VERSION;
	st->audit_intact = true;
	/* nothing kept yet: nothing checked, nothing in force; a directory we may not read is no answer */
	rc = m2m_state_open_existing(&r.st, pol_state_dir(cfg), err);
	if (rc == M2M_ERR_NOT_FOUND) {
		m2m_err_clear(err);
		status_out(out, st);
		return M2M_OK;
	}
	if (rc)
		return rc;
	m2m_state_close(&r.st);
	rc = pol_run_open(&r, cfg, -1, err);
	if (rc)
		return rc;
	/* a damaged state is set aside (policy-state.bad): what the rules' record says still holds */
	pol_state_load(&r.st, st, NULL);
	if (pol_quarantine_recorded(cfg))
		st->quarantined = true;
	st->quarantine_whole = st->quarantined && pol_quarantine_whole(cfg, false);
	fill_status(&r, st);
	pol_run_close(&r);
	status_out(out, st);
	return rc;
}

/* Under the lock, the state; *in_force: a quarantine is, by the state or by its rules' record. */
static int open_state(struct pol_run *r, const struct m2m_config *cfg, int lock_ms,
		      struct m2m_policy_status *st, bool *in_force, struct m2m_err *err)
{
	int rc = pol_run_open(r, cfg, lock_ms, err);

	if (rc)
		return rc;
	pol_state_load(&r->st, st, NULL);
	*in_force = st->quarantined || pol_quarantine_recorded(cfg);
	return M2M_OK;
}

int m2m_policy_release(const struct m2m_config *cfg, const char *reason, struct m2m_err *err)
{
	struct m2m_policy_status st;
	struct pol_run r;
	bool in_force;
	int rc;

	if (!reason || !reason[0])
		return m2m_err_set(err, M2M_ERR_USAGE, "a release needs a reason for the audit log");
	rc = open_state(&r, cfg, USER_LOCK_MS, &st, &in_force, err);
	if (rc)
		return rc;
	/* the rules first: a power cut before the state is written leaves it in force */
	if (in_force && !(rc = pol_quarantine_leave(cfg, err))) {
		st.quarantined = false;
		st.quarantine_whole = false;
		/*
		 * After every event written so far, also one stamped ahead of our
		 * clock (set back since, by up to the minute an event is believed
		 * ahead): what led to the release is not counted again.
		 */
		int64_t newest = m2m_state_events_newest(pol_state_dir(cfg));

		st.released_ms = m2m_unix_ms();
		if (newest > st.released_ms)
			st.released_ms = newest;
		rc = pol_state_save(&r.st, &st, err);
		if (!rc) {
			char who[96];

			m2m_who(who, sizeof(who));
			pol_note(&r, "release", "", "released by %s: %s", who, reason);
		}
	}
	pol_run_close(&r);
	return rc;
}

/*
 * Under the lock (not waited for: BUSY), a quarantine in force whose rules are
 * not whole is put back from its record, and the audit log says so as event.
 * Nothing in force (released while the caller looked) is nothing done.
 */
static int put_back(const struct m2m_config *cfg, const char *event, const char *detail,
		    bool *restored, struct m2m_err *err)
{
	struct m2m_policy_status st;
	struct pol_run r;
	bool in_force;
	int rc;

	*restored = false;
	rc = open_state(&r, cfg, 0, &st, &in_force, err);
	if (rc)
		return rc;
	if (in_force && !pol_quarantine_whole(cfg, false)) {
		rc = pol_quarantine_restore(cfg, err);
		if (!rc) {
			*restored = true;
			pol_note(&r, event, "", "%s (%s)", detail,
			      st.reason[0] ? st.reason : "its reason is not known");
		}
	}
	pol_run_close(&r);
	return rc;
}

int m2m_policy_apply(const struct m2m_config *cfg, struct m2m_err *err)
{
	bool restored;

	return put_back(cfg, "boot", "the quarantine put back in place", &restored, err);
}

int pol_quarantine_put_back(const struct m2m_config *cfg, const char *detail, bool *restored,
			    struct m2m_err *err)
{
	return put_back(cfg, "restored", detail, restored, err);
}

int m2m_policy_audit(const struct m2m_config *cfg, m2m_policy_audit_fn fn, void *ctx,
		     struct m2m_err *err)
{
	struct m2m_state s;
	struct pol_audit a;
	int rc;

	rc = m2m_state_open_existing(&s, pol_state_dir(cfg), err);
	if (rc == M2M_ERR_NOT_FOUND) {
		m2m_err_clear(err);
		return M2M_OK;
	}
	if (rc)
		return rc;
	rc = pol_audit_read(&s, &a, fn, ctx, err);
	m2m_state_close(&s);
	return rc;
}

int pol_audit_event(const struct m2m_config *cfg, const char *event, const char *detail,
		    unsigned wait_ms, char *head, struct m2m_err *err)
{
	struct pol_run r;
	int rc = pol_run_open(&r, cfg, (int)wait_ms, err);

	if (rc)
		return rc;
	r.now = (int64_t)time(NULL);
	if (!r.audit_ok)
		rc = m2m_err_set(err, M2M_ERR_INTEGRITY, "audit log: its chain is broken: nothing appended");
	else
		rc = pol_audit_append(&r.st, &r.audit, r.now, event, "", detail, err);
	if (!rc && head)
		memcpy(head, r.audit.head, POL_HASH_HEX);
	pol_run_close(&r);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * The state of one update, as a journal in the update's state directory
 * (lib/state's append-only journal "update.journal": one CRC-checked JSON
 * line a step), and the state machine that drives it. The work of each step
 * (download, verify, install, health check, commit, roll back) is behind
 * callbacks (struct upd_ops), so the tool, the LwM2M Firmware Update object
 * and the tests drive the same machine with their own transports and
 * installers, or fakes.
 *
 * The journey, each arrow one record written and flushed BEFORE the step it
 * names is acted on:
 *
 *   idle -> downloading (offset 0, then a record per checkpoint)
 *        -> downloaded -> verified -> installing -> installed (awaiting health)
 *        -> committed | rolled-back
 *   any step before installing may end in failed (nothing was installed);
 *   an install that fails, or a health check that fails or runs out of its
 *   bound, ends in rolled-back (the installer put the old version back).
 *
 * Every record carries the whole state (not a difference), so the last whole
 * record is all a restart needs: upd_journal_recover() reads it and says what
 * to do next. Every step is idempotent: a power cut at any point re-runs at
 * most the step that was under way (a download resumes at its last
 * checkpoint). An end state is written before its action (commit: the
 * installer marks the new version good and the anti-rollback floor is
 * raised; rolled-back: the installer returns to the old version), the action
 * is re-run until it succeeds, and then the journal is compacted: replaced
 * atomically by the final record alone, marked "done", so it stays bounded
 * and the last result is never lost.
 */
#ifndef M2M_UPDATE_JOURNAL_H
#define M2M_UPDATE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m2m/m2m.h"
#include "state/state.h"
#include "update/update.h"

/* The journal's file in the state directory, its lock and the bound of its size. */
#define UPD_JOURNAL_NAME "update.journal"
#define UPD_LOCK_NAME "update.lock"
#define UPD_JOURNAL_MAX (64 * 1024)
/* The anti-rollback floors of the file backend. */
#define UPD_FLOOR_NAME "update.floor"

enum upd_state {
	UPD_IDLE = 0,
	UPD_DOWNLOADING,
	UPD_DOWNLOADED,
	UPD_VERIFIED,
	UPD_INSTALLING,
	UPD_INSTALLED,    /* awaiting the health check */
	UPD_COMMITTED,
	UPD_ROLLED_BACK,
	UPD_FAILED,
};

/* "idle", "downloading", "downloaded", "verified", "installing", "installed",
 * "committed", "rolled-back", "failed"; "unknown" */
const char *upd_state_name(enum upd_state s);
bool upd_state_parse(const char *s, enum upd_state *out);
/* committed, rolled-back or failed */
bool upd_state_is_end(enum upd_state s);

/*
 * One record: {"state", "name", "version", "type", "source", "offset",
 * "etag", "sha256", "slot", "result", "message", "time", "ms", "done",
 * "checking", "installed", "proc"}; a field that is empty (or 0, false) is
 * left out of the JSON. "proc" ({"pgid", "start", "boot", "limit", "service"}) is
 * the installer process an installing record names (upd_installing), kept
 * while it is installing; "service" ("rauc") if that process handed the
 * install to a service that runs it on its own.
 */
/* fetch's rec->offset for a download that cannot be resumed: it fails instead */
#define UPD_NO_RESUME UINT64_MAX

struct upd_record {
	enum upd_state state;
	char name[64];          /* the package's, once verified */
	char version[40];
	enum upd_type type;     /* 0 until verified */
	char source[1024];      /* the URI or file it comes from */
	uint64_t offset;        /* bytes downloaded and flushed: a download resumes here */
	char etag[128];         /* the transport's validator of those bytes (HTTP ETag, CoAP ETag) */
	char sha256[65];        /* the payload's, lower-case hex, once verified */
	char slot[32];          /* where it was installed (RAUC's slot), if the installer says */
	int result;             /* enum m2m_rc: of the last step (end states: of the update) */
	char message[512];      /* "what: why" of a failure */
	int64_t time;           /* unix time the record was written */
	unsigned ms;            /* and its milliseconds (0-999): the health bound is counted in ms */
	bool done;              /* an end state whose action was carried out */
	bool checking;          /* installed: the health check began (its bound runs from here) */
	bool installed;         /* the installer finished: a rollback undoes what it did */
	struct upd_proc proc;   /* installing: the installer's process group, once it exists */
};

/* A record as one line of JSON into buf (NUL-terminated); FAILURE if it does not fit. */
int upd_record_json(const struct upd_record *r, char *buf, size_t len, struct m2m_err *err);
/* Parse one record (len bytes); FAILURE with the reason if it is not one. */
int upd_record_parse(const char *json, size_t len, struct upd_record *r, struct m2m_err *err);

/* What a (re)start does next, from the last record. */
enum upd_next {
	UPD_NEXT_NONE = 0,  /* idle, or an update that ended and was done */
	UPD_NEXT_FETCH,     /* downloading: (resume) the download at offset */
	UPD_NEXT_VERIFY,    /* downloaded: verify the package */
	UPD_NEXT_INSTALL,   /* verified or installing: (re-)run the install, idempotent */
	UPD_NEXT_HEALTH,    /* installed: the health check decides commit or roll back */
	UPD_NEXT_FINISH,    /* an end state whose action (commit, roll back) may not have run */
};
const char *upd_next_name(enum upd_next n);
enum upd_next upd_next_of(const struct upd_record *last);

/*
 * Read the journal of st (without the lock: a status may call it while an
 * update runs): *last is its last whole record (state idle if there is
 * none; a torn last line is no record), *next what a restart does. FAILURE
 * if the journal is damaged before its end.
 */
int upd_journal_recover(const struct m2m_state *st, struct upd_record *last, enum upd_next *next,
			struct m2m_err *err);

/*
 * The anti-rollback floor: the lowest version of each package name this
 * device may install. It is raised after a commit and never lowered; a
 * backend where an attacker with the disk cannot lower it either (a TPM NV
 * counter) implements the same two calls.
 *   get    the floor of name into version ("" if there is none)
 *   raise  make the floor of name at least version: a version at or below
 *          the floor changes nothing (OK)
 */
struct upd_floor_ops {
	int (*get)(void *ctx, const char *name, char *version, size_t len, struct m2m_err *err);
	int (*raise)(void *ctx, const char *name, const char *version, struct m2m_err *err);
};
/* The file backend: ctx is the (const struct m2m_state *) holding UPD_FLOOR_NAME. */
extern const struct upd_floor_ops upd_floor_file_ops;

struct upd;

/*
 * The work of each step, given by the caller. Each returns an enum m2m_rc and
 * fills err ("what: why"); each must be idempotent: after a power cut the
 * step under way runs again.
 *   fetch     download rec->source into the download area, from rec->offset
 *             (with rec->etag, the validator of the bytes there); after each
 *             checkpoint (the bytes flushed to the disk) call
 *             upd_checkpoint(); return with rec->offset the package's size.
 *             UNREACHABLE and TIMEOUT leave the update downloading, to be
 *             resumed by the next run (unless rec->offset is UPD_NO_RESUME:
 *             a source that cannot be resumed); any other error fails it.
 *   verify    verify the downloaded package (signature, policy, hash) and
 *             fill rec->name, version, type, sha256; an error fails it.
 *   discard   (optional) a fetch or verify failed for good (not resumed):
 *             remove what it left (the package, a part of the payload)
 *             before the failed record is written, so that a package that
 *             filled the disk gives its room back to the journal.
 *   prepare   (optional) before the first install record: fill rec->slot
 *             with where the install will go (RAUC: the inactive slot), so
 *             that a rollback after a cut knows it; an error fails the
 *             update (nothing was installed).
 *   install   install it (rec->slot may be filled); an error rolls it back,
 *             but BUSY (an installer an earlier run started still runs,
 *             rec->proc) leaves it installing for the next run. An installer
 *             process is recorded with upd_installing() before it runs.
 *   ready     (optional) whether the new version runs, so that its health
 *             check can begin (false: a reboot into it is pending). Until it
 *             does, the update waits installed, with no bound; the health
 *             bound starts at the first check (a record "checking" marks it).
 *   health    OK: the new version is healthy; BUSY: not decided yet (the
 *             tunnel is still coming up): the update stays installed until
 *             the health bound; any other error rolls back.
 *   commit    make the new version stay (RAUC: mark good).
 *   rollback  return to the old version (RAUC: mark the other slot active).
 *   journaled (optional) told after each record is on the disk: the LwM2M
 *             object notifies its observers of State and Update Result here.
 *   now       (optional) the clock (unix seconds); NULL: the real clock, to the ms.
 */
struct upd_ops {
	int (*fetch)(void *ctx, struct upd *u, struct upd_record *rec, struct m2m_err *err);
	int (*verify)(void *ctx, struct upd_record *rec, struct m2m_err *err);
	void (*discard)(void *ctx, const struct upd_record *rec);
	int (*install)(void *ctx, struct upd_record *rec, struct m2m_err *err);
	int (*prepare)(void *ctx, struct upd_record *rec, struct m2m_err *err);
	bool (*ready)(void *ctx, const struct upd_record *rec);
	int (*health)(void *ctx, const struct upd_record *rec, struct m2m_err *err);
	int (*commit)(void *ctx, const struct upd_record *rec, struct m2m_err *err);
	int (*rollback)(void *ctx, const struct upd_record *rec, struct m2m_err *err);
	void (*journaled)(void *ctx, const struct upd_record *rec);
	int64_t (*now)(void *ctx);
};

struct upd_opts {
	const struct upd_ops *ops;
	void *ctx;                          /* the ops' */
	const struct upd_floor_ops *floor;  /* NULL: no floor is raised */
	void *floor_ctx;
	unsigned health_timeout_ms;         /* the health check's bound from installed; 0: 5 min */
	size_t journal_max;                 /* 0: UPD_JOURNAL_MAX */
	bool hold;                          /* upd_run stops at verified until upd_release() */
};

/*
 * Open the update journal of st (st must outlive u): take the update lock
 * (BUSY if another process holds it), cut a torn last record, recover the
 * last state. Nothing is acted on yet.
 */
int upd_open(const struct m2m_state *st, const struct upd_opts *opts, struct upd **out,
	     struct m2m_err *err);
void upd_close(struct upd *u);

/* The last record written (or recovered) and what comes next. */
const struct upd_record *upd_last(const struct upd *u);
enum upd_next upd_next(const struct upd *u);

/*
 * Begin a new update from source (a URI or a file): BUSY if one is under way
 * (not idle and not ended), else the first record (downloading, offset 0)
 * is written. Nothing is fetched yet: upd_run() does the rest.
 */
int upd_start(struct upd *u, const char *source, struct m2m_err *err);

/* One step (what upd_next() says), with its record written before it is acted on. */
int upd_step(struct upd *u, struct m2m_err *err);

/*
 * Steps until the update ends (and its action is done), waits (installed,
 * health BUSY) or meets an error that leaves it resumable. Returns the end's
 * result (OK: committed, or waiting; else the result of a failure or a
 * rollback, with its message in err), the error that stopped a resumable
 * step, or the journal's own error.
 */
int upd_run(struct upd *u, struct m2m_err *err);

/*
 * With opts->hold: let upd_run() go on past verified (once): the LwM2M
 * server's Execute of Update. USAGE unless the update is verified.
 */
int upd_release(struct upd *u, struct m2m_err *err);

/*
 * Cancel an update before anything was installed (downloading, downloaded or
 * verified: the LwM2M server's empty Package URI or Package): the journal
 * goes back to idle (a record that keeps the source, with the message
 * "cancelled"), so the next upd_start() is taken. USAGE in any other state:
 * nothing to cancel, or too late (installing: only its end or a rollback).
 */
int upd_cancel(struct upd *u, struct m2m_err *err);

/*
 * From install: the installer's process p (its group) exists and runs once
 * this returns; an installing record naming it is on the disk then, so a
 * restart after our death waits for it instead of starting a second one.
 */
int upd_installing(struct upd *u, const struct upd_proc *p, struct m2m_err *err);

/* From fetch: bytes [0, offset) are on the disk, with validator etag (NULL: unchanged). */
int upd_checkpoint(struct upd *u, uint64_t offset, const char *etag, struct m2m_err *err);

/*
 * A technician's decision on an installed update (instead of the health
 * check): good commits it, !good rolls it back. USAGE unless installed.
 */
int upd_decide(struct upd *u, bool good, struct m2m_err *err);

#endif

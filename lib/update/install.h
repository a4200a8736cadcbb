/* SPDX-License-Identifier: MIT */
/*
 * lib/update's installers: one small interface, one backend a file
 * (install_rauc.c, install_script.c, install_config.c), as RAUC keeps its
 * bootloaders. The manifest's "installer" names the backend.
 *
 * Every call is bounded by ctx->timeout_ms (a helper that overruns it is sent
 * SIGTERM, then SIGKILL, and the call returns M2M_ERR_TIMEOUT), and every call
 * may be repeated after a power cut: the journal calls install again with the
 * same payload when it cannot know whether the first call finished, and
 * mark_good, mark_bad and rollback only set states.
 *
 * Slots, the A/B model (RAUC's; a script backend has none and has no status):
 *   install    writes the payload into the slot that is not booted and makes
 *              that slot the primary one (the one the next boot starts)
 *   mark_good  the booted slot is healthy: commit (keep booting it)
 *   mark_bad   the booted slot is not (the bootloader will not boot it again)
 *   rollback   back to the slot that ran before the update: the slot the update
 *              went into (ctx->target) is marked bad and the other one made
 *              primary, in that order reversed (the old slot first, so a cut
 *              between the two still boots it). The journal records the target
 *              before the install: the slot status's inactive slot. Without
 *              ctx->target it is guessed from the status, right the first time
 *              but not on a repeat: a booted slot marked bad is the new one; else
 *              a primary slot that is not booted is (installed, not rebooted);
 *              else the booted one is (rebooted into it, not marked yet).
 *              After an install that did not finish (!ctx->installed), a target
 *              that is neither booted nor primary is left as it is: RAUC refused
 *              the bundle before writing it, or marked it bad itself before
 *              writing, so an untouched slot stays the good fallback it was.
 *
 * RAUC (installer "rauc"): driven through its command line (rauc install,
 * rauc status --output-format=json, rauc status mark-good|mark-bad|
 * mark-active), which talks to `rauc service` over the D-Bus system bus
 * (ctx->dbus_address, else the environment's DBUS_SYSTEM_BUS_ADDRESS, else the
 * standard socket). RAUC checks its bundle's own signature and its compatible
 * again; the errors map to: not genuine -> M2M_ERR_INTEGRITY, compatible
 * mismatch -> M2M_ERR_REFUSED, service or bus missing or gone -> M2M_ERR_DAEMON,
 * busy with another install -> M2M_ERR_BUSY, out of time -> M2M_ERR_TIMEOUT,
 * anything else M2M_ERR_FAILURE with RAUC's last error line.
 * After a crash, RAUC's own slot status (central.raucs: "status ok", the old
 * version) still describes the old content of a half-written slot: status
 * reports only what the bootloader says (booted, primary, good/bad), never that;
 * the engine trusts it plus its own journal. A timed-out `rauc install` client
 * does not stop the service's install: it may still finish (and make the slot
 * primary) after the call returned TIMEOUT; ask status again before acting.
 * Nor does a client killed with its caller: install records the `rauc
 * install` client (ctx->started, with service "rauc") before it runs, and a
 * restart waits for RAUC's Operation to be idle (upd_rauc_await) before it
 * asks the slots whether the install is done.
 *
 * The script handler (installer "script"), its contract (for the man page):
 *   The program is ctx->script: an absolute path to a regular, executable file
 *   owned by root or by us and not writable by group or others (it runs with
 *   our privileges). It is executed directly, never through a shell, with
 *       argv[0]  the program's path
 *       argv[1]  the verb: install | commit | rollback
 *       argv[2]  install only: the absolute path of the verified payload (a
 *                regular file; the script may read it, must not change it)
 *   and nothing else: the verb is always argv[1], whatever argv[0] is.
 *   Environment: only PATH=/usr/sbin:/usr/bin:/sbin:/bin, LC_ALL=C and
 *       M2M_UPDATE_VERB     the verb again
 *       M2M_UPDATE_NAME     the manifest's name      (ctx->name, "" if unset)
 *       M2M_UPDATE_VERSION  the manifest's version   (ctx->version)
 *       M2M_UPDATE_TYPE     firmware | software | config
 *       M2M_UPDATE_PAYLOAD  install only: the payload's path
 *   stdin is /dev/null; stdout is read and passed to the log, one line a line;
 *   stderr's last non-empty line becomes the error message. For install
 *   (ctx->output_dir), stdout and stderr are files in the engine's state
 *   directory (UPD_OUTPUT_OUT, UPD_OUTPUT_ERR: 0600, emptied at the
 *   install's start), followed while it runs; a script may write on after
 *   its client died (no SIGPIPE), and the restart shows its lines. The working
 *   directory is "/". It runs in a process group of its own; for install,
 *   that group is in the journal before the program starts (ctx->started),
 *   so that a client killed during it (its helper left running) is not
 *   followed by a second install beside the first: the restart waits for
 *   the group (upd_proc_follow), showing its output meanwhile. commit and
 *   rollback write to pipes (a client's death may cut them: they are run
 *   again, and must be repeatable anyway).
 *   Time bound: ctx->timeout_ms; then SIGTERM to the whole process group, and
 *   SIGKILL UPD_KILL_GRACE_MS later if it is still there: M2M_ERR_TIMEOUT.
 *   Exit status:
 *       0   done                                   M2M_OK
 *       1   failed                                 M2M_ERR_FAILURE
 *       17  the payload is not genuine             M2M_ERR_INTEGRITY
 *       18  the payload is not for this device     M2M_ERR_REFUSED
 *       19  not enough space                       M2M_ERR_STORAGE
 *       any other, or killed by a signal           M2M_ERR_FAILURE ("exit N",
 *                                                  "killed by signal N")
 *   install is run again after a power cut during it: it must be idempotent.
 *   commit and rollback must succeed when there is nothing (more) to do.
 *   mark_good is commit; mark_bad and rollback are rollback; status is not
 *   available (M2M_ERR_NOT_FOUND).
 */
#ifndef M2M_UPDATE_INSTALL_H
#define M2M_UPDATE_INSTALL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "m2m/m2m.h"
#include "update/update.h"

#define UPD_INSTALL_TIMEOUT_DEFAULT_MS (30u * 60u * 1000u) /* an install: 30 min */
#define UPD_KILL_GRACE_MS 2000u                            /* SIGTERM -> SIGKILL */
#define UPD_RAUC_DEFAULT "/usr/bin/rauc"
#define UPD_BUSCTL "/usr/bin/busctl"    /* systemd's: reads RAUC's D-Bus properties */
#define UPD_RAUC_POLL_MS 200u           /* how often RAUC's Operation is read while it installs */
#define UPD_SLOTS_MAX 8
/* an install's output (upd_spawn's out_dir): the files, mode 0600, emptied at its start */
#define UPD_OUTPUT_OUT "update.install.out"
#define UPD_OUTPUT_ERR "update.install.err"
#define UPD_OUTPUT_MAX (1024u * 1024u)  /* disk a file keeps of what was read already */
#define UPD_OUTPUT_POLL_MS 50u          /* how often a file (and a group) is looked at */

/* Progress of an install: percent 0..100 and what is being done. */
typedef void (*upd_install_progress_fn)(void *ctx, unsigned percent, const char *what);

struct upd_install_ctx {
	unsigned timeout_ms;        /* bound of each call; 0: UPD_INSTALL_TIMEOUT_DEFAULT_MS */
	upd_install_progress_fn progress; /* may be NULL */
	void *progress_ctx;
	m2m_log_fn log;             /* may be NULL: the helpers' output lines, at LOG_DEBUG */
	void *log_ctx;
	/* rauc */
	const char *rauc;           /* the rauc program; NULL: UPD_RAUC_DEFAULT */
	const char *rauc_conf;      /* its system.conf (rauc -c); NULL: RAUC's default */
	const char *dbus_address;   /* the system bus; NULL: from the environment */
	const char *target;         /* rollback: bootname of the slot the update went into */
	bool installed;             /* rollback: the install finished (the target is marked bad
				       whatever the slots show: a repeat after a cut) */
	/* script */
	const char *script;         /* the handler's absolute path */
	const char *output_dir;     /* install: its stdout and stderr go to files there
				       (upd_spawn's out_dir); NULL: pipes */
	/* config: the configuration file a config package replaces */
	const char *config;
	/* the package being installed (the script's environment) */
	const char *name;
	const char *version;
	enum upd_type type;
	/* script install: told the installer's process group before it runs (its
	   record in the journal); an error and it never runs. May be NULL. */
	int (*started)(void *ctx, const struct upd_proc *p, struct m2m_err *err);
	void *started_ctx;
};

enum upd_boot_status {
	UPD_BOOT_UNKNOWN = 0,
	UPD_BOOT_GOOD,
	UPD_BOOT_BAD,
};

/* What the bootloader says about the slots (RAUC's slot status only in each slot's
   version, and only from upd_rauc_status_detailed). */
struct upd_slot_status {
	char booted[32];            /* bootname of the booted slot ("A"); "" if unknown */
	char primary[32];           /* bootname of the primary slot (the next boot); "" if none */
	char compatible[64];
	size_t n;
	struct upd_slot {
		char name[32];          /* "rootfs.0" */
		char bootname[32];      /* "A" */
		char class_[32];        /* "rootfs" */
		bool booted;
		bool primary;
		enum upd_boot_status boot;
		char version[40];       /* RAUC's slot status: the version of the bundle it
					   installed there ("" if none, or not asked for) */
	} slot[UPD_SLOTS_MAX];
};

struct upd_installer_ops {
	const char *name;
	/* Can it work here at all (program present, service answers)? */
	int (*probe)(const struct upd_install_ctx *ctx, struct m2m_err *err);
	/* The payload (a verified file) into the inactive slot, which becomes primary. */
	int (*install)(const struct upd_install_ctx *ctx, const char *payload, struct m2m_err *err);
	int (*status)(const struct upd_install_ctx *ctx, struct upd_slot_status *st,
		      struct m2m_err *err);
	int (*mark_good)(const struct upd_install_ctx *ctx, struct m2m_err *err);
	int (*mark_bad)(const struct upd_install_ctx *ctx, struct m2m_err *err);
	int (*rollback)(const struct upd_install_ctx *ctx, struct m2m_err *err);
};

extern const struct upd_installer_ops upd_installer_rauc;
extern const struct upd_installer_ops upd_installer_script;
/* install_config.h: the new m2m.yaml over ctx->config; mark_good commits, mark_bad and
   rollback put the old one back; no status (NOT_FOUND) */
extern const struct upd_installer_ops upd_installer_config;
/* the same for update.trust (ctx->config is its path): the trust anchors rotated */
extern const struct upd_installer_ops upd_installer_trust;

/* The backend named by a manifest's installer: "rauc", "script", "config", "trust"; NULL for any other. */
const struct upd_installer_ops *upd_installer_find(const char *name);

/* "good", "bad", "unknown" */
const char *upd_boot_status_name(enum upd_boot_status s);
/* The slot with that bootname, NULL if none. */
const struct upd_slot *upd_slot_find(const struct upd_slot_status *st, const char *bootname);

/* RAUC's output, for the backend and its tests: what a line of it says (an
 * m2m code, 0 if nothing), and the JSON of `rauc status --output-format=json`. */
int upd_rauc_classify(const char *line);
int upd_rauc_parse_status(const char *json, struct upd_slot_status *st, struct m2m_err *err);
/*
 * The status with RAUC's own status of each slot (rauc status --detailed): each
 * slot's version is the bundle's RAUC last installed there. RAUC keeps it
 * from an install's end to the next one's: a slot whose write was cut still
 * shows the version before (see above); it is only ever a slot's word when
 * no record of ours has one.
 */
int upd_rauc_status_detailed(const struct upd_install_ctx *ctx, struct upd_slot_status *st,
			     struct m2m_err *err);
/*
 * The install an earlier run handed to RAUC (p: its client, as recorded: the
 * install's start and limit) may still run in RAUC's service: wait until
 * RAUC's Operation (D-Bus de.pengutronix.rauc.Installer, read with busctl)
 * is "idle": OK, with its LastError ("" if none) in last_error. BUSY if it
 * still installs at wait_ms, at *stop, or past p's limit (RAUC's install
 * cannot be stopped: a next run waits again); DAEMON if RAUC does not
 * answer, NOT_FOUND without busctl.
 */
int upd_rauc_await(const struct upd_install_ctx *ctx, const struct upd_proc *p, unsigned wait_ms,
		   volatile const int *stop, char *last_error, size_t len, struct m2m_err *err);
/* What a rollback does with the slots st shows (target: ctx->target or NULL): *old made
 * primary, then *fresh marked bad if *mark_fresh (see rollback above). */
int upd_rauc_rollback_plan(const struct upd_slot_status *st, const char *target,
			   const struct upd_slot **old, const struct upd_slot **fresh,
			   bool *mark_fresh, struct m2m_err *err);

/* ---- for the backends: run a helper program, bounded ---------------------------- */

/* One line a helper wrote (without its newline); fd is 1 or 2. */
typedef void (*upd_line_fn)(void *ctx, int fd, const char *line);

struct upd_spawn {
	const char *const *argv;    /* argv[0] is the absolute path executed (no PATH search) */
	const char *const *envp;    /* the whole environment */
	unsigned timeout_ms;
	upd_line_fn on_line;        /* may be NULL */
	void *line_ctx;
	/* (optional) the helper exists, in its group, and has not run yet: it runs
	   once this returns OK, never if it does not (or if we die first) */
	int (*started)(void *ctx, const struct upd_proc *p, struct m2m_err *err);
	void *started_ctx;
	/* (optional) stdout and stderr go to UPD_OUTPUT_OUT and UPD_OUTPUT_ERR in
	   this directory (our private state), not to pipes: they outlive us */
	const char *out_dir;
	/* results */
	int status;                 /* waitpid's status, if exited or signalled */
	bool timed_out;             /* we killed it at the deadline */
	char last_err[256];         /* the last non-empty line of its stderr */
};

/*
 * Spawn r->argv (no shell, stdin /dev/null, stdout and stderr read line by
 * line: pipes, or with r->out_dir files it appends to, emptied (created
 * 0600) first and followed every UPD_OUTPUT_POLL_MS, their read part punched
 * out once over UPD_OUTPUT_MAX (emptied where the file system has no holes:
 * a line written between our read and that is lost), so that the helper
 * writes on, never SIGPIPE, once we are gone; a process group of its own,
 * no other descriptor inherited, signals
 * at their defaults), wait for it at most r->timeout_ms, then SIGTERM its
 * group and SIGKILL it UPD_KILL_GRACE_MS later. The child waits at a gate
 * (a pipe) until r->started has recorded it, and ends unrun if we die
 * before (the pipe's end), so no helper ever runs unrecorded. OK once it
 * ended (look at r->status and r->timed_out); M2M_ERR_FAILURE if it could not
 * be started (no such program: M2M_ERR_NOT_FOUND), r->started's error.
 */
int upd_spawn(struct upd_spawn *r, struct m2m_err *err);

/* ms left of p's limit (from its start, on the clock of /proc's start times); 0 past it */
unsigned upd_proc_left_ms(const struct upd_proc *p);
/* pid's identity (its start, this boot) and limit_ms into p; NOT_FOUND if pid is gone. */
int upd_proc_of(int pid, unsigned limit_ms, struct upd_proc *p, struct m2m_err *err);
/*
 * Whether p's group still has a process of its own: one that is not a zombie
 * and is p's (same boot; the leader's start as recorded, or, the leader
 * gone, a member started no earlier: a group's number is not reused while
 * one of its processes lives).
 */
bool upd_proc_alive(const struct upd_proc *p);
/*
 * Wait for p's group to be gone (OK). At its own deadline (start + limit_ms,
 * the bound the client that started it would have kept) it is killed as
 * upd_spawn kills (SIGTERM, UPD_KILL_GRACE_MS, SIGKILL): TIMEOUT. BUSY if
 * wait_ms passed first or *stop was set (stop may be NULL): it still runs.
 */
int upd_proc_wait(const struct upd_proc *p, unsigned wait_ms, volatile const int *stop,
		  struct m2m_err *err);
/*
 * upd_proc_wait, and meanwhile the lines of the output files in out_dir
 * (r->out_dir of the upd_spawn that started it) to on_line, from the first
 * one still there: what the installer said before and after its client died.
 */
int upd_proc_follow(const struct upd_proc *p, unsigned wait_ms, volatile const int *stop,
		    const char *out_dir, upd_line_fn on_line, void *line_ctx, struct m2m_err *err);

#endif

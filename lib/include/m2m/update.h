/* SPDX-License-Identifier: MIT */
/*
 * Signed, power-safe updates (m2mdm-update(1), m2m-update(5)): one engine
 * that the tool, the LwM2M Firmware Update object and an application drive
 * alike. An update goes
 *
 *   downloading -> downloaded -> verified -> installing -> installed
 *               -> committed | rolled-back      (or failed before installing)
 *
 * each step written to the update journal in the state directory before it
 * is acted on, so that a power cut at any point resumes or rolls back on the
 * next call and the truthful result is never lost. The package is checked
 * while it arrives (signature and policy before a byte of payload is
 * accepted), checked again from the disk before it is installed, and
 * installed by the installer its manifest names (RAUC, a script, or the
 * engine itself for a configuration). An installed update is committed only
 * once the health check (update.health in m2m.yaml(5)) passes, or a
 * technician decides.
 */
#ifndef M2M_UPDATE_PUBLIC_H
#define M2M_UPDATE_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m2m/config.h"
#include "m2m/m2m.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The schema of `m2mdm-update status --json`. */
#define M2M_UPDATE_SCHEMA "m2m.update/1"

/* The steps of an update, as the journal records them (append-only). */
enum m2m_update_state {
	M2M_UPDATE_IDLE = 0,      /* none yet */
	M2M_UPDATE_DOWNLOADING,
	M2M_UPDATE_DOWNLOADED,
	M2M_UPDATE_VERIFIED,
	M2M_UPDATE_INSTALLING,
	M2M_UPDATE_INSTALLED,     /* awaiting the health check (or a reboot first) */
	M2M_UPDATE_COMMITTED,
	M2M_UPDATE_ROLLED_BACK,
	M2M_UPDATE_FAILED,
};
/* "idle", "downloading", ..., "rolled-back", "failed" */
const char *m2m_update_state_name(enum m2m_update_state s);

/* What the state directory says about the last update (no lock, no network). */
struct m2m_update_status {
	enum m2m_update_state state;
	bool done;               /* an end state whose action (commit, rollback) was carried out */
	char name[64];           /* the package's, once verified */
	char version[40];
	char type[16];           /* "firmware", "software", "config"; "" before verified */
	char source[1024];       /* the URL or file it came from */
	uint64_t offset;         /* bytes downloaded so far */
	char slot[32];           /* the slot it went into (RAUC), if any */
	int result;              /* enum m2m_rc of the last step (of the update, once it ended) */
	char message[512];       /* why, if result is not OK */
	int64_t time;            /* unix time of the last step */
	char next[16];           /* what the next run does: "none", "fetch", "verify", "install",
				    "health", "finish" */
	char installed[40];      /* the committed version of this package name, "" if none */
	char floor[40];          /* the lowest version of it this device accepts, "" if none */
};

/*
 * The last update's state (m2mdm-update status). OK with st filled (state
 * idle if there was none); CONFIG if there is no update: section; the
 * journal's error if it is damaged.
 */
int m2m_update_status(const struct m2m_config *cfg, struct m2m_update_status *st,
		      struct m2m_err *err);

/*
 * The firmware this device runs, as far as the engine knows: the package of
 * type firmware last committed on it (its name and version, written at the
 * commit, which comes only after the health check on the new firmware; an
 * update rolled back leaves it as it was), unless the bootloader fell back
 * from its slot since (noticed by m2m_update_check_boot: then the firmware
 * committed into the slot that booted, or RAUC's word for that slot). A file
 * read, cheap enough for every read of /3/0/3. OK; NOT_FOUND if no firmware
 * package was ever committed, or if the version the fallen-back-to slot runs
 * is not known; CONFIG without an update: section.
 */
int m2m_update_firmware(const struct m2m_config *cfg, char *name, size_t nlen, char *version,
			size_t vlen, struct m2m_err *err);

#define M2M_UPDATE_FW_INFO_VERSION 1
/* The firmware record in full (m2mdm-update status). */
struct m2m_update_fw_info {
	unsigned version;        /* M2M_UPDATE_FW_INFO_VERSION, set by the caller */
	char name[64];           /* the firmware that runs: its package name and version, */
	char fw_version[40];     /* "" if not known */
	char slot[32];           /* the slot it runs from (RAUC's bootname), "" if none */
	int64_t committed;       /* unix time of its commit, 0 if not known */
	char source[16];         /* "record" (committed here), "rauc" (RAUC's slot status), "" */
	bool fell_back;          /* the bootloader fell back to it from the firmware below */
	char from_name[64];      /* the firmware committed, then given up on by the bootloader */
	char from_version[40];
	char from_slot[32];
	int64_t from_committed;
	int64_t fell_back_at;    /* unix time the fallback was noticed (m2m_update_check_boot) */
};

/*
 * The firmware record (no lock, no RAUC asked): OK with fw filled; NOT_FOUND
 * if no firmware package was committed; FAILURE if the record is damaged;
 * USAGE if fw->version is not one this library knows.
 */
int m2m_update_fw_info(const struct m2m_config *cfg, struct m2m_update_fw_info *fw,
		       struct m2m_err *err);

/*
 * Progress of the step under way: phase "download" (done, total in bytes;
 * total 0 if not known yet), "verify" (bytes), "install" (done percent of
 * total 100, what: the installer's words, may be "").
 */
typedef void (*m2m_update_progress_fn)(void *ctx, const char *phase, uint64_t done,
				       uint64_t total, const char *what);
/*
 * The health check (update.health): OK healthy; M2M_ERR_BUSY not decided yet
 * (ask again later, until the bound runs out); any other result: unhealthy,
 * roll back. timeout_ms is what is left of the bound. m2m_dm_health() (dm.h)
 * is the standard one.
 */
typedef int (*m2m_update_health_fn)(void *ctx, const struct m2m_config *cfg,
				    unsigned timeout_ms, volatile const int *stop,
				    struct m2m_err *err);

#define M2M_UPDATE_OPTS_VERSION 1
struct m2m_update_opts {
	unsigned version;                 /* M2M_UPDATE_OPTS_VERSION */
	unsigned timeout_ms;              /* bound of this run; 0: update.timeout */
	volatile const int *stop;         /* set (from a signal handler) to stop at the next block */
	m2m_update_progress_fn progress;  /* may be NULL */
	void *progress_ctx;
	/* the health check; NULL: an installed update waits for m2m_update_decide() */
	m2m_update_health_fn health;
	void *health_ctx;
	m2m_log_fn log;                   /* steps and the installers' output; may be NULL */
	void *log_ctx;
	/* stop once the package is downloaded and verified, until m2m_update_apply()
	   (the LwM2M Firmware Update object: Download, then the server's Execute of Update) */
	bool hold;
};

struct m2m_update;

/*
 * Open the update engine of cfg (its update: section): takes the update lock
 * (BUSY if another process holds it: one update run at a time) and recovers
 * the journal. Nothing is acted on yet. CONFIG without an update: section.
 */
int m2m_update_open(const struct m2m_config *cfg, const struct m2m_update_opts *opts,
		    struct m2m_update **out, struct m2m_err *err);
void m2m_update_close(struct m2m_update *u);

/*
 * Install the package at source (a file path, or an http, https, coap or
 * coaps URL): BUSY if an update is under way, else it runs until the update
 * ends, waits for its health check (OK, state installed) or stops at an
 * error that leaves it resumable (UNREACHABLE, TIMEOUT: the next
 * m2m_update_continue resumes the download). Returns the update's result:
 * OK, or why it failed or was rolled back (INTEGRITY: not genuine or
 * damaged; REFUSED: not for this device, a downgrade, expired; STORAGE: no
 * space; the transport's and the installer's errors).
 */
int m2m_update_install(struct m2m_update *u, const char *source, struct m2m_err *err);

/*
 * Continue what is under way (m2mdm-update check, and every start after a
 * power cut): resume a download, verify, (re-)install, run the health
 * check, finish a commit or rollback. OK if there is nothing to do.
 */
int m2m_update_continue(struct m2m_update *u, struct m2m_err *err);

/*
 * With opts->hold: install the downloaded, verified package and run on as
 * m2m_update_install does. USAGE if no verified package waits.
 */
int m2m_update_apply(struct m2m_update *u, struct m2m_err *err);

/*
 * A technician's decision on an installed update: good commits it, !good
 * rolls it back. USAGE if no update awaits one.
 */
int m2m_update_decide(struct m2m_update *u, bool good, struct m2m_err *err);

/*
 * The push interface: the caller hands the package in a block at a time, in
 * order (an LwM2M server writing /5/0/0 block-wise, RFC 7959 Block1).
 *   m2m_update_push_begin  starts an update whose source is "push": BUSY if
 *                          another is under way; a push under way that did
 *                          not end is started over (a sender restarts a push
 *                          from its first block)
 *   m2m_update_push        the block at offset (the bytes so far; the last
 *                          block again at its offset is accepted and ignored:
 *                          a retransmission). It goes to the disk (flushed
 *                          every MiB) and through the streaming verifier at
 *                          once: a package that is not genuine or not for
 *                          this device is refused at the block that shows it
 *                          (its signature before the first payload byte) and
 *                          the update fails with that result
 *   m2m_update_push_end    the last block arrived: the rest of the update
 *                          runs as in m2m_update_install
 * A push cut off (a power cut, the sender gone) cannot be resumed: the next
 * m2m_update_continue fails it with UNREACHABLE, and the sender pushes again.
 */
int m2m_update_push_begin(struct m2m_update *u, struct m2m_err *err);
int m2m_update_push(struct m2m_update *u, uint64_t offset, const void *data, size_t len,
		    struct m2m_err *err);
int m2m_update_push_end(struct m2m_update *u, struct m2m_err *err);

/* The engine's current state (as m2m_update_status, from the open journal). */
int m2m_update_get(const struct m2m_update *u, struct m2m_update_status *st,
		   struct m2m_err *err);

/*
 * At boot (m2mdm-update check): the slot RAUC says booted against the one
 * the committed firmware runs from. When the bootloader fell back from it
 * (its slot bad, or another one primary) and no update under way explains
 * it, the record is corrected (m2m_update_firmware: what runs now), the
 * fallback kept in it, and one LOG_WARNING line says so; *fell_back is set.
 * OK also when nothing can be told (RAUC not answering: a warning); an error
 * only if the record cannot be written.
 */
int m2m_update_check_boot(struct m2m_update *u, bool *fell_back, struct m2m_err *err);

/*
 * How long a check run waits before it resumes a download (the jitter): a
 * point in update.jitter's window (at most a quarter of bound_ms) fixed for
 * this device (from device.id), so a fleet on one cron line is spread over
 * the window. 0 without an update: section.
 */
unsigned m2m_update_check_delay_ms(const struct m2m_config *cfg, unsigned bound_ms);

/* ---- the vendor side: making and checking packages ---------------------- */

struct m2m_key;
/* A signer: its key (any key store: m2m_key_open), its certificate and the
 * intermediate certificates to carry (PEM files; chain may be NULL). */
struct m2m_update_signer {
	struct m2m_key *key;
	const char *cert;
	const char *chain;
};

/*
 * Make a package (m2m-update(5)) at out from a manifest (JSON, len bytes; its
 * "size" and "sha256" may be left out: they are computed from payload) and
 * the payload file, signed by each of the n signers. Written atomically.
 * USAGE: an invalid manifest; CREDENTIAL: a key that did not sign or a
 * certificate that is not its key's.
 */
int m2m_update_sign(const char *manifest, size_t len, const char *payload,
		    const struct m2m_update_signer *signers, size_t n, const char *out,
		    struct m2m_err *err);

/* What a package says of itself, once verified. */
struct m2m_update_info {
	char name[64];
	char version[40];
	char type[16];
	char installer[16];
	char models[256];        /* comma-separated */
	uint64_t size;           /* payload bytes */
	char sha256[65];
	int64_t expires;
	char signers[1024];      /* one subject a line */
};

/*
 * Verify the package file pkg against the trust anchors in trust (PEM):
 * signature, chain (code signing), the payload's size and hash, expiry;
 * if model is not NULL, that the package is for it; signatures (0: 1) is
 * the distinct signers a firmware package needs. No device policy (floor,
 * installed version): that is the engine's. INTEGRITY, REFUSED as above.
 */
int m2m_update_verify(const char *pkg, const char *trust, const char *model,
		      unsigned signatures, struct m2m_update_info *info, struct m2m_err *err);

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/*
 * Internal to the update engine (engine.c: the public calls; steps.c: the
 * work of each journal step; versions.c: the installed versions, the floor
 * and the policy; push.c: packages handed in a block at a time).
 */
#ifndef M2M_UPDATE_ENGINE_INT_H
#define M2M_UPDATE_ENGINE_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "m2m/update.h"
#include "state/state.h"
#include "update/fw_record.h"
#include "update/journal.h"
#include "update/update.h"

#define PKG_NAME "package"
#define PAYLOAD_NAME "payload"
#define PAYLOAD_TMP "payload.tmp"
#define MANIFEST_NAME "update.manifest"
#define INSTALLED_NAME "update.installed"
#define FIRMWARE_NAME "update.firmware"
#define SMALL_MAX (64 * 1024)
#define DL_PATH_MAX (PATH_MAX + 32)
/* the source of a package handed in by the caller (push.c) */
#define PUSH_SOURCE UPD_PUSH_SOURCE

struct m2m_update {
	const struct m2m_config *cfg;
	const struct m2m_update_config *up;
	struct m2m_update_opts o;
	struct m2m_state st;       /* state_dir: the journal, the manifest, the versions */
	struct m2m_state dl;       /* download_dir: the package, the payload */
	bool st_open, dl_open;
	const struct upd_floor_ops *fops; /* where the floor is kept (NULL until first needed) */
	void *fctx;
	struct upd *j;
	uint64_t deadline;         /* m2m_now_ms() of the run's end */
	int payload_fd;            /* the verifier's sink while verifying */
	uint64_t verified;         /* payload bytes written by the sink */
	/* a push (push.c) */
	struct upd_verifier *pv;   /* its verifier, while it runs */
	int push_fd;               /* the package file, while it runs */
	bool pushing, pushed;      /* begun; its last block arrived */
	bool push_space;           /* the room for its payload was checked */
	uint64_t push_len, push_last, push_synced; /* bytes so far; the last block's offset; flushed */
	uint8_t *push_buf;         /* the last of them, not written yet (PUSH_BUF bytes at most) */
	size_t push_held;
	uint64_t push_synced_at;   /* when it was flushed last (m2m_now_ms) */
	int push_rc;               /* a refused block: the update fails with it */
	struct upd_manifest push_m; /* ... and the package it was, if genuine (push_m.name[0]) */
	struct m2m_err push_err;
};
/* a genuine package the policy refused (m, may be NULL): its name and version into rec */
void eng_name_refused(struct upd_record *rec, const struct upd_manifest *m);
/* a technician's commit: USAGE unless the new version runs (RAUC: its slot booted) */
int eng_can_commit(struct m2m_update *u, const struct upd_record *rec, struct m2m_err *err);
/* the run's bound starts now (each public call that works) */
void eng_arm(struct m2m_update *u);
/* the fetch step of a push (steps.c calls it for the source PUSH_SOURCE) */
int eng_push_fetch(struct m2m_update *u, struct upd_record *rec, struct m2m_err *err);
void eng_push_close(struct m2m_update *u);

/* the caller's log (ctx: the struct m2m_update; an m2m_log_fn, also the installers') */
void eng_log(void *ctx, int prio, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* ms left of the run's bound (at least 1) */
unsigned eng_left_ms(const struct m2m_update *u);
/* an absolute path: a package on this machine, not a URL */
bool eng_is_file_source(const char *source);
/* name's path in the download area, into buf of DL_PATH_MAX */
const char *eng_dl_path(const struct m2m_update *u, const char *name, char *buf);
int eng_write_all(int fd, const void *data, size_t len);
/* rc, with err cleared if it is OK (a lookup on the way may have left words in it) */
int eng_ok(int rc, struct m2m_err *err);
/* an ended update whose end action may not have run (a cut): finish it first */
int eng_finish_pending(struct m2m_update *u, struct m2m_err *err);

/* update.installed: the committed version of a package name ("" if none) */
int eng_installed_get(const struct m2m_state *st, const char *name, char *out, size_t len,
		      struct m2m_err *err);
int eng_installed_set(const struct m2m_state *st, const char *name, const char *version,
		      struct m2m_err *err);
/*
 * update.firmware (fw_record.h): the firmware that runs, the one committed
 * into each slot, a fallback of the bootloader after a commit. read:
 * NOT_FOUND if there is none, FAILURE if it is damaged.
 */
int eng_firmware_read(const struct m2m_state *st, struct upd_fw_record *r, struct m2m_err *err);
int eng_firmware_write(const struct m2m_state *st, const struct upd_fw_record *r,
		       struct m2m_err *err);
/* at its commit (a damaged record is started afresh) */
int eng_firmware_commit(const struct m2m_state *st, const char *name, const char *version,
			const char *slot, int64_t now, struct m2m_err *err);
/* an install writes slot: what was committed into it is no more */
int eng_firmware_forget(const struct m2m_state *st, const char *slot, struct m2m_err *err);
/* what runs (m2m_update_firmware); NOT_FOUND if none was committed, or not known */
int eng_firmware_get(const struct m2m_state *st, char *name, size_t nlen, char *version,
		     size_t vlen, struct m2m_err *err);
/* the booted slot against the record (m2m_update_check_boot) */
int eng_check_boot(struct m2m_update *u, bool *fell_back, struct m2m_err *err);
/* the device's policy from update:, the installed version and floor looked up by name */
void eng_policy(struct m2m_update *u, struct upd_policy *pol);
/* the backend update.floor names (a TPM's is opened here; close it with eng_floor_close) */
int eng_floor_open(const struct m2m_update_config *up, const struct m2m_state *st,
		   const struct upd_floor_ops **ops, void **ctx, struct m2m_err *err);
void eng_floor_close(const struct upd_floor_ops *ops, void *ctx);
/* the anti-rollback floor with the named downgrades (ctx: the struct m2m_update) */
extern const struct upd_floor_ops eng_floor;
/* the journal's steps (ctx: the struct m2m_update) */
extern const struct upd_ops eng_ops;

#endif

/* SPDX-License-Identifier: MIT */
/*
 * What obj_firmware.c (object 5: its resources, the mapping of the engine's
 * journal to State and Update Result, the push, the refusals) and
 * obj_firmware_job.c (the engine beside the CoAP loop: its worker thread,
 * its health check, its log lines) share.
 */
#ifndef M2M_LWM2M_OBJ_FIRMWARE_H
#define M2M_LWM2M_OBJ_FIRMWARE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lwm2m/objects.h"
#include "m2m/update.h"

#define URI_MAX 255          /* Package URI: 0..255 bytes (E.6) */

/* FW_JOB_CONTINUE: what an earlier run left under way (a pull, a verify, an install, its
   health check, an end action), taken up when this run starts */
enum fw_job { FW_JOB_NONE = 0, FW_JOB_PULL, FW_JOB_PUSH_END, FW_JOB_APPLY, FW_JOB_CONTINUE };

struct lw_fw {
	const struct m2m_config *cfg;
	pthread_mutex_t mu;
	pthread_t thread;
	bool thread_live;        /* started and not joined */
	/* under mu: the worker's job while it runs, and whether it cancels the update then */
	enum fw_job job;
	bool cancel;
	bool reconfigured;       /* a configuration package ended: the file changed under us */
	bool reboot;             /* the Update's install awaits a boot into its slot */
	volatile int stop;       /* the engine stops at its next block (the client ends) */
	struct m2m_update *u;    /* the worker's handle (the CoAP loop's while it takes a push) */
	char src[URI_MAX + 1];   /* what it pulls */
	/* CoAP loop only */
	char uri[URI_MAX + 1];   /* Package URI as last written */
	int refused;             /* an Update Result decided at the write (7, 9), 0: none */
	bool saved;              /* FW_FILE holds a refusal */
	bool pushing;            /* a push under way: u open here, its blocks come */
	bool cancel_wanted;      /* a cancel was asked of the worker: checked once it is joined */
	uint64_t push_at;        /* when its last block came */
	bool reset;              /* an empty Package URI or Package over an ended update: Idle, 0 */
	bool resumed;            /* what the journal left under way was looked at (resume()) */
	struct m2m_update_status st;
	int st_rc;
	uint64_t st_at;
	char name[64], version[40];
	/* under mu: the engine's lines (steps, installer output), for the CoAP loop to log */
	struct fw_line *lines, **lines_tail;
	unsigned n_lines, dropped;
};

struct fw_line {
	struct fw_line *next;
	int prio;
	char msg[];
};

/* obj_firmware_job.c */
/* The engine opened (f->u), in the CoAP loop: 0, or the CoAP answer to a held lock (5.03). */
int fw_open_engine(struct lw_fw *f);
/* The worker's job (FW_JOB_NONE once it ended); *cancel: whether it cancels its update. */
enum fw_job fw_running(struct lw_fw *f, bool *cancel);
/* The worker that ended joined, and a cancel asked of it made sure of. */
void fw_reap(struct lw_fw *f);
/* Hand the engine (open) to a worker for job: 0, or the CoAP answer. */
int fw_spawn(struct lw_fw *f, enum fw_job j);
/* The engine's lines queued so far, to the client's log (the CoAP loop's thread only). */
void fw_deliver(struct lw_objects *s, struct lw_fw *f);

#endif

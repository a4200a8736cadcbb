/* SPDX-License-Identifier: MIT */
/*
 * Object 5 Firmware Update (LwM2M TS 1.1 Core, E.6) over the update engine
 * (m2m/update.h): the server writes a Package URI, the engine pulls,
 * verifies and holds the package (opts.hold: LwM2M's Downloaded), the
 * server executes Update, the engine installs it and runs its health check.
 * State and Update Result are the engine's journal read through one table
 * (fw_map below, documented in m2mdm-status(1)), so what the server sees
 * after a restart is what the journal says, not what this process remembers.
 *
 * The engine's calls run to their end (a pull of any size, an install, a
 * health check of minutes): they run in a worker thread with its own
 * m2m_update handle, opened in the loop (so that a held update lock is
 * answered at once), never in the CoAP loop (obj_firmware_job.c). The loop only reads m2m_update_status(),
 * which takes no lock; an observation of State or Update Result is
 * notified when that read changes (observe.c samples observed paths).
 *
 * The Package pushed by the server (RFC 7959 Block1) goes a block at a time
 * from lib/coap (mcoap_on_block1) into m2m_update_push() and so to the disk,
 * in the CoAP loop: each block is a write and a hash update, and the engine
 * flushes every MiB. Its last block hands the handle to the worker, which
 * ends the push (the package verified again from the disk) as a pull ends.
 *
 * An empty Package URI or Package cancels an update not yet installed (E.6:
 * back to Idle, Update Result 0): a pull is stopped and cancelled by its
 * worker (upd_engine_cancel), a push or a held package at once. A refusal
 * decided at the write (7, 9) is kept in the state directory (FW_FILE) and
 * reported again after a restart, until the next update or reset.
 *
 * An Update whose install went into a slot the device has not booted (RAUC)
 * is carried on by a reboot: E.6's Update ends with the new firmware
 * running, and a server waits for Update Result, not a step of its own. So
 * once the install is done the device's reboot hook (dm.hooks.reboot, the
 * one the server's Reboot /3/0/4 runs) is run; after the boot the health
 * check and the commit are taken up (resume()). Without that hook the update
 * waits in Updating for whoever reboots the device.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/obj_firmware.h"
#include "lwm2m/obj_int.h"
#include "lwm2m/state.h"
#include "m2m/dm.h"
#include "m2m/update.h"
#include "update/fetch.h"
#include "update/update.h"

#define STATUS_KEEP_MS 250   /* a read of the journal serves this long (observations sample at 50 ms) */
/* a push with no block for this long was given up by its sender (lib/coap forgets it then too) */
#define PUSH_IDLE_MS 93000
/* a cancelled worker ends at its next look (at most 100 ms): how long a request waits for it */
#define STOP_WAIT_MS 1000
/* the refusal decided at the write (7, 9), kept for the registrations after a restart */
#define FW_FILE "dm-firmware.json"

/* State (3) and Update Result (5), E.6 */
enum { FW_IDLE = 0, FW_DOWNLOADING = 1, FW_DOWNLOADED = 2, FW_UPDATING = 3 };
enum {
	FW_R_INITIAL = 0, FW_R_SUCCESS = 1, FW_R_STORAGE = 2, FW_R_MEMORY = 3, FW_R_CONNECTION = 4,
	FW_R_INTEGRITY = 5, FW_R_TYPE = 6, FW_R_URI = 7, FW_R_FAILED = 8, FW_R_PROTOCOL = 9,
};

#define ANY (-1)

/*
 * THE mapping: the engine's last journal record (state, whether its end
 * action was carried out, the result code of its last step) to State and
 * Update Result; the first row that matches. m2mdm-status(1) prints it.
 */
static const struct fw_map {
	enum m2m_update_state st;
	int done;   /* ANY, 0, 1 */
	int rc;     /* enum m2m_rc or ANY */
	uint8_t state, result;
} fw_map[] = {
	{ M2M_UPDATE_IDLE, ANY, ANY, FW_IDLE, FW_R_INITIAL },
	/* stopped by a lost connection or its time bound: resumable, the next run resumes it */
	{ M2M_UPDATE_DOWNLOADING, ANY, M2M_ERR_UNREACHABLE, FW_DOWNLOADING, FW_R_CONNECTION },
	{ M2M_UPDATE_DOWNLOADING, ANY, M2M_ERR_TIMEOUT, FW_DOWNLOADING, FW_R_CONNECTION },
	{ M2M_UPDATE_DOWNLOADING, ANY, ANY, FW_DOWNLOADING, FW_R_INITIAL },
	/* on the disk, its integrity not checked yet: LwM2M's Downloaded comes after that check */
	{ M2M_UPDATE_DOWNLOADED, ANY, ANY, FW_DOWNLOADING, FW_R_INITIAL },
	/* verified and held until the server's Execute of Update */
	{ M2M_UPDATE_VERIFIED, ANY, ANY, FW_DOWNLOADED, FW_R_INITIAL },
	{ M2M_UPDATE_INSTALLING, ANY, ANY, FW_UPDATING, FW_R_INITIAL },
	/* installed, awaiting the health check: not a success until it is committed */
	{ M2M_UPDATE_INSTALLED, ANY, ANY, FW_UPDATING, FW_R_INITIAL },
	/* an end state whose action (mark good, raise the floor; roll back) still runs */
	{ M2M_UPDATE_COMMITTED, 0, ANY, FW_UPDATING, FW_R_INITIAL },
	{ M2M_UPDATE_COMMITTED, 1, ANY, FW_IDLE, FW_R_SUCCESS },
	{ M2M_UPDATE_ROLLED_BACK, 0, ANY, FW_UPDATING, FW_R_INITIAL },
	{ M2M_UPDATE_ROLLED_BACK, 1, ANY, FW_IDLE, FW_R_FAILED },
	/* failed before anything was installed: why */
	{ M2M_UPDATE_FAILED, ANY, M2M_ERR_STORAGE, FW_IDLE, FW_R_STORAGE },
	{ M2M_UPDATE_FAILED, ANY, M2M_ERR_UNREACHABLE, FW_IDLE, FW_R_CONNECTION },
	{ M2M_UPDATE_FAILED, ANY, M2M_ERR_TIMEOUT, FW_IDLE, FW_R_CONNECTION },
	{ M2M_UPDATE_FAILED, ANY, M2M_ERR_INTEGRITY, FW_IDLE, FW_R_INTEGRITY },
	{ M2M_UPDATE_FAILED, ANY, M2M_ERR_REFUSED, FW_IDLE, FW_R_TYPE },
	/* the URI names nothing on its server (HTTP 404, CoAP 4.04): not a URI "from where the
	 * device can download" (E.6, resource 1), so an invalid URI, not a failed update */
	{ M2M_UPDATE_FAILED, ANY, M2M_ERR_NOT_FOUND, FW_IDLE, FW_R_URI },
	/* the transports' answer to a scheme they do not speak */
	{ M2M_UPDATE_FAILED, ANY, M2M_ERR_CONFIG, FW_IDLE, FW_R_PROTOCOL },
	{ M2M_UPDATE_FAILED, ANY, ANY, FW_IDLE, FW_R_FAILED },
};

static const struct m2m_update_status *status(struct lw_fw *f)
{
	struct m2m_err err;
	uint64_t now = m2m_now_ms();

	fw_reap(f);
	if (f->st_at && now - f->st_at < STATUS_KEEP_MS)
		return &f->st;
	f->st_rc = m2m_update_status(f->cfg, &f->st, &err);
	f->st_at = now;
	return &f->st;
}

/*
 * The refusal decided at the write, in FW_FILE with the time of the journal's
 * last record then: after a restart it is reported again unless the journal
 * has moved on since (an update the technician ran, say).
 */
static void save_refusal(struct lw_fw *f)
{
	json_object *o;
	struct m2m_err err;

	if (!f->refused && !f->saved)
		return;
	o = json_object_new_object();
	if (!o)
		return;
	json_object_object_add(o, "result", json_object_new_int(f->refused));
	if (f->refused) {
		json_object_object_add(o, "uri", json_object_new_string(f->uri));
		json_object_object_add(o, "journal", json_object_new_int64(status(f)->time));
	}
	if (lw_state_write(f->cfg, FW_FILE, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			   &err) == M2M_OK)
		f->saved = f->refused != 0;
	json_object_put(o);
}

static void load_refusal(struct lw_fw *f)
{
	json_object *o, *r, *u, *t;
	struct m2m_err err;
	int result;

	if (lw_state_read_json(f->cfg, FW_FILE, 4096, NULL, NULL, &o, &err) != M2M_OK)
		return;
	f->saved = true;
	result = json_object_object_get_ex(o, "result", &r) ? json_object_get_int(r) : 0;
	if ((result == FW_R_URI || result == FW_R_PROTOCOL) &&
	    json_object_object_get_ex(o, "uri", &u) && json_object_is_type(u, json_type_string) &&
	    json_object_get_string_len(u) <= URI_MAX &&
	    json_object_object_get_ex(o, "journal", &t) &&
	    json_object_get_int64(t) == status(f)->time && !f->st_rc) {
		f->refused = result;
		snprintf(f->uri, sizeof(f->uri), "%s", json_object_get_string(u));
	}
	json_object_put(o);
}

/*
 * A push that ends without its last block (a block refused, the sender gone,
 * the client ending): the engine fails it (a push cannot be resumed: Update
 * Result 4, unless a refused block decided another) and lets the update go.
 */
static void push_stop(struct lw_fw *f)
{
	struct m2m_err err;

	m2m_update_continue(f->u, &err);
	m2m_update_close(f->u);
	f->u = NULL;
	f->pushing = false;
	f->st_at = 0;
}

static void resume(struct lw_fw *f);

/* State and Update Result now: the journal through fw_map, then what this object knows first. */
static void fw_now(struct lw_fw *f, int *state, int *result)
{
	bool cancel;
	enum fw_job j;
	const struct m2m_update_status *st;

	/* a request before the first step of the loop: what an earlier run left is taken up */
	resume(f);
	/* the job first: one that ended since is joined by status(), which reads afresh */
	j = fw_running(f, &cancel);

	if (f->pushing && m2m_now_ms() - f->push_at > PUSH_IDLE_MS)
		push_stop(f);
	st = status(f);
	*state = FW_IDLE;
	*result = FW_R_INITIAL;
	if (f->st_rc) {
		/* the journal cannot be read: nothing truthful to say but that it failed */
		*result = FW_R_FAILED;
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(fw_map); i++) {
			const struct fw_map *m = &fw_map[i];

			if (m->st == st->state && (m->done == ANY || m->done == (int)st->done) &&
			    (m->rc == ANY || m->rc == st->result)) {
				*state = m->state;
				*result = m->result;
				break;
			}
		}
	}
	/* the Execute was taken and the worker has not written its first record yet */
	if (j == FW_JOB_APPLY && *state == FW_DOWNLOADED)
		*state = FW_UPDATING;
	/* a download resumed: under way again, whatever stopped it before (E.6: Update Result
	   back to 0 once the process is initiated) */
	if ((j == FW_JOB_PULL || j == FW_JOB_CONTINUE) && *state == FW_DOWNLOADING)
		*result = FW_R_INITIAL;
	/* a pull was taken: it starts with its first record (Update Result back to 0) */
	if (j == FW_JOB_PULL && *state == FW_IDLE) {
		*state = FW_DOWNLOADING;
		*result = FW_R_INITIAL;
	}
	/* cancelled: the worker stops and cancels, Idle already for the server (E.6) */
	if (cancel) {
		*state = FW_IDLE;
		*result = FW_R_INITIAL;
	}
	if (j == FW_JOB_NONE && *state == FW_IDLE && (f->refused || f->reset))
		*result = f->refused;
}

static struct lw_fw *fw_of(struct lw_objects *s)
{
	struct lw_fw *f = s->fw;
	const struct m2m_update_status *st;

	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->cfg = s->cfg;
	f->lines_tail = &f->lines;
	pthread_mutex_init(&f->mu, NULL);
	s->fw = f;
	/* a push cut off by the end of an earlier run: failed now, as it cannot be resumed */
	st = status(f);
	if (!f->st_rc && st->state == M2M_UPDATE_DOWNLOADING &&
	    strcmp(st->source, UPD_PUSH_SOURCE) == 0 && fw_open_engine(f) == 0)
		push_stop(f);
	load_refusal(f);
	return f;
}

/* A new update (a pull, or the Execute of Update): no refusal or reset of before counts. */
static void fresh(struct lw_fw *f)
{
	f->refused = 0;
	f->reset = false;
	save_refusal(f);
}

static int start(struct lw_fw *f, enum fw_job j, const char *src)
{
	int rc;

	fw_reap(f);
	if (f->thread_live)
		return LW_NOT_ALLOWED;
	rc = fw_open_engine(f);
	if (rc)
		return rc;
	snprintf(f->src, sizeof(f->src), "%s", src ? src : "");
	rc = fw_spawn(f, j);
	if (!rc)
		fresh(f);
	return rc;
}

/*
 * What an earlier run of this client left under way (a kill -9, a power cut,
 * the end of a --report run's window) is taken up once, when this run starts:
 * a pull resumes where its journal says (lib/update's resume: a Range), a
 * downloaded package is verified and held, an install cut off is done again
 * and its health check run, an end action finished. So the server sees the
 * truthful State and Update Result after the registration, and the update
 * goes on to its end without a new order. A package held (Downloaded) waits
 * for the server's Execute; a push cut off was failed by fw_of. A pushed
 * package past its download goes on as a pulled one: above all one installed
 * into RAUC's other slot, whose health check runs once the device has
 * rebooted into it, in the run that starts then.
 */
static void resume(struct lw_fw *f)
{
	const struct m2m_update_status *st;

	if (f->resumed)
		return;
	f->resumed = true;
	st = status(f);
	if (f->st_rc || strcmp(st->next, "none") == 0 || st->state == M2M_UPDATE_VERIFIED ||
	    (st->state == M2M_UPDATE_DOWNLOADING && strcmp(st->source, UPD_PUSH_SOURCE) == 0) ||
	    f->thread_live || f->pushing)
		return;
	if (fw_open_engine(f) == 0)
		fw_spawn(f, FW_JOB_CONTINUE);
}

/*
 * What a Package URI says before anything is fetched, as the engine's pull
 * judges it (upd_fetch_scheme, RFC 3986 3.1, 3.2): FW_R_URI if it is no URI
 * with a host, FW_R_PROTOCOL if its scheme is not one the engine pulls from;
 * 0 if it may be pulled.
 */
static int uri_check(const char *u)
{
	switch (upd_fetch_scheme(u)) {
	case UPD_SCHEME_INVALID:
		return FW_R_URI;
	case UPD_SCHEME_UNSUPPORTED:
		return FW_R_PROTOCOL;
	default:
		return 0;
	}
}

/*
 * An empty Package URI or Package (E.6): "resets the Firmware Update State
 * Machine", State Idle and Update Result 0, also while it downloads or waits
 * Downloaded: the update is cancelled and its partial download removed. In
 * Updating it is too late (4.05).
 */
/*
 * A worker told to stop (a cancel) ends at its next look: a Package or
 * Package URI that comes meanwhile waits for it, so that Idle takes the next
 * one at once (E.6) rather than 4.05 for a pull that is already over.
 */
static void wait_cancelled(struct lw_fw *f)
{
	uint64_t end = m2m_now_ms() + STOP_WAIT_MS;
	bool cancel = false;

	while (fw_running(f, &cancel) != FW_JOB_NONE && cancel && m2m_now_ms() < end)
		m2m_sleep_ms(10, NULL);
	fw_reap(f);
}

static int fw_cancel(struct lw_fw *f)
{
	int state, result, rc;
	struct m2m_err err;
	enum fw_job j;

	fw_now(f, &state, &result);
	/* after fw_now: a worker that ended before is joined, one that ends after is reaped */
	j = fw_running(f, NULL);
	if (state == FW_UPDATING || j == FW_JOB_APPLY)
		return LW_NOT_ALLOWED;
	if (f->pushing) {
		upd_engine_cancel(f->u, &err);
		m2m_update_close(f->u);
		f->u = NULL;
		f->pushing = false;
	} else if (j != FW_JOB_NONE) {
		/* the worker stops at its next block and cancels (fw_now: Idle meanwhile) */
		pthread_mutex_lock(&f->mu);
		f->cancel = true;
		pthread_mutex_unlock(&f->mu);
		f->stop = 1;
		f->cancel_wanted = true;
	} else if (state != FW_IDLE) {
		/* Downloaded (held), or a download an earlier run left */
		rc = fw_open_engine(f);
		if (rc)
			return rc;
		rc = upd_engine_cancel(f->u, &err);
		m2m_update_close(f->u);
		f->u = NULL;
		if (rc && rc != M2M_ERR_USAGE)
			return LW_INTERNAL;
	}
	f->refused = 0;
	f->reset = true;
	f->uri[0] = 0;
	f->st_at = 0;
	save_refusal(f);
	return 0;
}

/* A block the engine refused, as the answer to it */
static int push_code(int rc)
{
	switch (rc) {
	case M2M_ERR_STORAGE:
		return LW_CODE(4, 13); /* Request Entity Too Large (RFC 7959 2.9.3) */
	case M2M_ERR_PROTOCOL:
		return LW_CODE(4, 8);  /* Request Entity Incomplete (2.9.2) */
	case M2M_ERR_INTEGRITY:
	case M2M_ERR_REFUSED:
		return LW_BAD_REQUEST;
	default:
		return LW_INTERNAL;
	}
}

/*
 * The Package pushed (E.6 push, RFC 7959 Block1), a block at a time from
 * lib/coap: block 0 starts an update (in Idle only) or starts the push under
 * way over; each block goes to m2m_update_push() (the disk, the verifier);
 * the last hands the engine to the worker to end the push. An empty value
 * (or NULL, "\0") in one message cancels (fw_cancel).
 */
static int fw_block(struct lw_object *o, uint16_t inst, uint16_t res, uint64_t off,
		    const uint8_t *p, size_t len, bool last)
{
	struct lw_fw *f = fw_of(OBJS(o));
	struct m2m_err err;
	int state, result, rc;

	if (!f)
		return LW_INTERNAL;
	if (off == 0 && last && (len == 0 || (len == 1 && !p[0])))
		return fw_cancel(f);
	if (off == 0 && !f->pushing) {
		wait_cancelled(f);
		fw_now(f, &state, &result);
		if (state != FW_IDLE || fw_running(f, NULL) != FW_JOB_NONE)
			return LW_NOT_ALLOWED;
		rc = fw_open_engine(f);
		if (rc)
			return rc;
		f->pushing = true;
		f->uri[0] = 0;
		fresh(f);
	} else if (!f->pushing) {
		return LW_CODE(4, 8); /* that push ended (refused, or given up) */
	}
	f->push_at = m2m_now_ms();
	rc = off == 0 ? m2m_update_push_begin(f->u, &err) : M2M_OK;
	if (!rc)
		rc = m2m_update_push(f->u, off, p, len, &err);
	if (rc) {
		push_stop(f);
		return push_code(rc);
	}
	if (off == 0)
		f->st_at = 0; /* Downloading from now on */
	if (!last)
		return 0;
	f->pushing = false;
	return fw_spawn(f, FW_JOB_PUSH_END);
}

static int fw_write(struct lw_object *o, uint16_t inst, uint16_t res, const struct lw_value *v,
		    bool apply)
{
	struct lw_fw *f = fw_of(OBJS(o));
	int state, result, why;

	if (!f)
		return LW_INTERNAL;
	if (res == 0)
		/* the Package in one message of another format (a TLV of the instance) */
		return apply ? fw_block(o, inst, res, 0, v->buf, v->len, true) : 0;
	if (res != 1)
		return LW_NOT_ALLOWED;
	if (v->len > URI_MAX)
		return LW_BAD_REQUEST;
	if (!apply)
		return 0;
	if (!v->len)
		return fw_cancel(f);
	/* a new Package URI is taken in Idle only (E.6: Downloading and on reject other writes) */
	wait_cancelled(f);
	fw_now(f, &state, &result);
	if (state != FW_IDLE || fw_running(f, NULL) != FW_JOB_NONE || f->pushing)
		return LW_NOT_ALLOWED;
	memcpy(f->uri, v->buf, v->len);
	f->uri[v->len] = 0;
	why = uri_check(f->uri);
	if (why) {
		/* the write succeeds; the error is the Update Result's (E.6), kept across a restart */
		f->refused = why;
		f->reset = false;
		save_refusal(f);
		return 0;
	}
	return start(f, FW_JOB_PULL, f->uri);
}

static int fw_exec(struct lw_object *o, uint16_t inst, uint16_t res, const uint8_t *arg,
		   size_t len)
{
	struct lw_fw *f = fw_of(OBJS(o));
	int state, result;

	if (!f)
		return LW_INTERNAL;
	/* Update: only in Downloaded (E.6) */
	fw_now(f, &state, &result);
	if (state != FW_DOWNLOADED || fw_running(f, NULL) != FW_JOB_NONE)
		return LW_NOT_ALLOWED;
	return start(f, FW_JOB_APPLY, NULL);
}

/* Firmware Update Protocol Support (8): what lib/update pulls from */
static const int protocols[] = { 0 /* CoAP */, 1 /* CoAPS */, 2 /* HTTP 1.1 */, 3 /* HTTPS 1.1 */ };

static int fw_count(struct lw_object *o, uint16_t inst, uint16_t res)
{
	return res == 8 ? (int)ARRAY_SIZE(protocols) : 0;
}

static int fw_read(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
		   struct lw_value *v)
{
	struct lw_fw *f = fw_of(OBJS(o));
	const struct m2m_update_status *st;
	int state, result;

	if (!f)
		return LW_INTERNAL;
	switch (res) {
	case 1:
		return str(v, f->uri);
	case 3:
	case 5:
		fw_now(f, &state, &result);
		return integer(v, res == 3 ? state : result);
	case 6:
	case 7:
		st = status(f);
		fw_now(f, &state, &result);
		/* the package's, once verified; none after a reset or a refusal at the write */
		snprintf(f->name, sizeof(f->name), "%s", f->reset || f->refused ? "" : st->name);
		snprintf(f->version, sizeof(f->version), "%s",
			 f->reset || f->refused ? "" : st->version);
		return str(v, res == 6 ? f->name : f->version);
	case 8:
		return ri < ARRAY_SIZE(protocols) ? integer(v, protocols[ri]) : LW_NOT_FOUND;
	case 9:
		return integer(v, 2); /* both: pull (Package URI) and push (Package) */
	}
	return LW_NOT_FOUND;
}

static const struct lw_res_def fw_res[] = {
	{ 0, LW_OPAQUE, LW_OP_W, false },            /* Package: pushed a block at a time */
	{ 1, LW_STRING, LW_OP_R | LW_OP_W, false },  /* Package URI */
	{ 2, LW_NONE, LW_OP_E, false },              /* Update */
	{ 3, LW_INTEGER, LW_OP_R, false },           /* State */
	{ 5, LW_INTEGER, LW_OP_R, false },           /* Update Result */
	{ 6, LW_STRING, LW_OP_R, false },            /* PkgName */
	{ 7, LW_STRING, LW_OP_R, false },            /* PkgVersion */
	{ 8, LW_INTEGER, LW_OP_R, true },            /* Firmware Update Protocol Support */
	{ 9, LW_INTEGER, LW_OP_R, false },           /* Firmware Update Delivery Method */
};

static const struct lw_object_ops fw_ops = {
	.read = fw_read, .count = fw_count, .write = fw_write, .exec = fw_exec,
	.write_block = fw_block, .block_res = 0,
};

/* one instance with an update: section (the engine's configuration), none without */
static size_t fw_instances(const struct m2m_config *cfg)
{
	return cfg->update ? 1 : 0;
}

/*
 * Each step of the client's loop: the first takes up what an earlier run
 * left; an Update installed into a slot not booted reboots the device (the
 * device object runs the hook at its next step, as for /3/0/4).
 */
static void fw_run(struct lw_objects *s)
{
	struct lw_fw *f;
	bool reboot;

	if (!s->cfg->update)
		return;
	f = fw_of(s);
	if (!f)
		return;
	resume(f);
	/* a worker that ended is joined now, not at the next read of the object */
	fw_reap(f);
	/* a push whose blocks stopped coming ends here too, whether or not the server reads */
	if (f->pushing && m2m_now_ms() - f->push_at > PUSH_IDLE_MS)
		push_stop(f);
	fw_deliver(s, f);
	pthread_mutex_lock(&f->mu);
	reboot = f->reboot;
	f->reboot = false;
	pthread_mutex_unlock(&f->mu);
	if (reboot && s->cfg->dm.reboot_hook && !s->pending_hook)
		s->pending_hook = s->cfg->dm.reboot_hook;
}

bool lw_fw_busy(const struct lw_objects *s)
{
	struct lw_fw *f = s->fw;

	return f && (f->thread_live || f->pushing);
}

bool lw_objects_reconfigured(struct lw_objects *s)
{
	struct lw_fw *f = s->fw;
	bool r;

	if (!f)
		return false;
	pthread_mutex_lock(&f->mu);
	r = f->reconfigured && f->job == FW_JOB_NONE;
	pthread_mutex_unlock(&f->mu);
	return r;
}

/* The client ends: the engine stops at its next block (a pull resumes on the next start). */
static void fw_free(struct lw_objects *s)
{
	struct lw_fw *f = s->fw;

	if (!f)
		return;
	if (f->pushing)
		push_stop(f);
	f->stop = 1;
	if (f->thread_live)
		pthread_join(f->thread, NULL);
	fw_deliver(s, f);
	pthread_mutex_destroy(&f->mu);
	free(f);
	s->fw = NULL;
}

const struct lw_object_def lw_obj_firmware = {
	.id = 5, .res = fw_res, .n_res = ARRAY_SIZE(fw_res), .ops = &fw_ops,
	.instances = fw_instances, .run = fw_run, .free = fw_free,
};

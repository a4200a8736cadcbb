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
 * m2m_update handle, opened here (so that a held update lock is answered at
 * once), never in the CoAP loop. The loop only reads m2m_update_status(),
 * which takes no lock; an observation of State or Update Result is
 * notified when that read changes (observe.c samples observed paths).
 *
 * Not done yet (issue 13): the Package resource as a push (only its reset,
 * an empty write, is taken); cancelling an update under way (the engine has
 * no call for it); the refusals decided at the write (7, 9) are not kept
 * across a restart.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/obj_int.h"
#include "m2m/dm.h"
#include "m2m/update.h"
#include "update/fetch.h"

#define URI_MAX 255          /* Package URI: 0..255 bytes (E.6) */
#define STATUS_KEEP_MS 250   /* a read of the journal serves this long (observations sample at 50 ms) */

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
	/* the transports' answer to a scheme they do not speak */
	{ M2M_UPDATE_FAILED, ANY, M2M_ERR_CONFIG, FW_IDLE, FW_R_PROTOCOL },
	{ M2M_UPDATE_FAILED, ANY, ANY, FW_IDLE, FW_R_FAILED },
};

enum fw_job { FW_JOB_NONE = 0, FW_JOB_PULL, FW_JOB_APPLY };

struct lw_fw {
	const struct m2m_config *cfg;
	pthread_mutex_t mu;
	pthread_t thread;
	bool thread_live;        /* started and not joined */
	/* under mu: the worker's job while it runs */
	enum fw_job job;
	volatile int stop;       /* the engine stops at its next block (the client ends) */
	struct m2m_update *u;    /* the worker's handle */
	char src[URI_MAX + 1];   /* what it pulls */
	/* CoAP loop only */
	char uri[URI_MAX + 1];   /* Package URI as last written */
	int refused;             /* an Update Result decided at the write (7, 9), 0: none */
	bool reset;              /* an empty Package URI or Package over an ended update: Idle, 0 */
	struct m2m_update_status st;
	int st_rc;
	uint64_t st_at;
	char name[64], version[40];
};

static struct lw_fw *fw_of(struct lw_objects *s)
{
	struct lw_fw *f = s->fw;

	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->cfg = s->cfg;
	pthread_mutex_init(&f->mu, NULL);
	s->fw = f;
	return f;
}

static enum fw_job running(struct lw_fw *f)
{
	enum fw_job j;

	pthread_mutex_lock(&f->mu);
	j = f->job;
	pthread_mutex_unlock(&f->mu);
	return j;
}

/* The worker that ended is joined (the loop's calls come by often: each read and write). */
static void reap(struct lw_fw *f)
{
	if (f->thread_live && running(f) == FW_JOB_NONE) {
		pthread_join(f->thread, NULL);
		f->thread_live = false;
		f->st_at = 0; /* what was read while it ran is stale */
	}
}

static const struct m2m_update_status *status(struct lw_fw *f)
{
	struct m2m_err err;
	uint64_t now = m2m_now_ms();

	reap(f);
	if (f->st_at && now - f->st_at < STATUS_KEEP_MS)
		return &f->st;
	f->st_rc = m2m_update_status(f->cfg, &f->st, &err);
	f->st_at = now;
	return &f->st;
}

/* State and Update Result now: the journal through fw_map, then what this object knows first. */
static void fw_now(struct lw_fw *f, int *state, int *result)
{
	/* the job first: one that ended since is joined by status(), which reads afresh */
	enum fw_job j = running(f);
	const struct m2m_update_status *st = status(f);

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
	/* a pull was taken: it starts with its first record (Update Result back to 0) */
	if (j == FW_JOB_PULL && *state == FW_IDLE) {
		*state = FW_DOWNLOADING;
		*result = FW_R_INITIAL;
	}
	if (j == FW_JOB_NONE && *state == FW_IDLE && (f->refused || f->reset))
		*result = f->refused;
}

static void *worker(void *arg)
{
	struct lw_fw *f = arg;
	struct m2m_err err;
	enum fw_job j = f->job;

	m2m_err_clear(&err);
	/* the result is the journal's: State and Update Result read it */
	if (j == FW_JOB_PULL)
		m2m_update_install(f->u, f->src, &err);
	else
		m2m_update_apply(f->u, &err);
	m2m_update_close(f->u);
	pthread_mutex_lock(&f->mu);
	f->u = NULL;
	f->job = FW_JOB_NONE;
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* The standard health check (m2m_dm_health): while this client serves, its registration. */
static int fw_health(void *ctx, const struct m2m_config *cfg, unsigned timeout_ms,
		     volatile const int *stop, struct m2m_err *err)
{
	struct lw_fw *f = ctx;
	struct m2m_dm_health_opts ho = { .version = M2M_DM_HEALTH_OPTS_VERSION,
					 .timeout_ms = timeout_ms, .stop = stop };

	/* a configuration package hands the new configuration: it replaces ours */
	if (cfg != f->cfg)
		ho.before = f->cfg;
	return m2m_dm_health(cfg, &ho, err);
}

/* Open the engine here (a held update lock is answered at once) and hand it to a worker. */
static int start(struct lw_fw *f, enum fw_job j, const char *src)
{
	struct m2m_update_opts uo = {
		.version = M2M_UPDATE_OPTS_VERSION, .stop = &f->stop, .health = fw_health,
		.health_ctx = f, .hold = true,
	};
	struct m2m_err err;
	int rc;

	reap(f);
	if (f->thread_live)
		return LW_NOT_ALLOWED;
	rc = m2m_update_open(f->cfg, &uo, &f->u, &err);
	if (rc)
		return rc == M2M_ERR_BUSY ? LW_SERVICE_UNAVAILABLE : LW_INTERNAL;
	snprintf(f->src, sizeof(f->src), "%s", src ? src : "");
	f->job = j;
	f->stop = 0;
	if (pthread_create(&f->thread, NULL, worker, f)) {
		m2m_update_close(f->u);
		f->u = NULL;
		f->job = FW_JOB_NONE;
		return LW_INTERNAL;
	}
	f->thread_live = true;
	f->refused = 0;
	f->reset = false;
	f->st_at = 0;
	return 0;
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

/* An empty Package URI or Package: back to Idle, Update Result 0 (E.6). */
static int fw_reset(struct lw_fw *f)
{
	int state, result;

	fw_now(f, &state, &result);
	/* an update under way cannot be cancelled yet: the engine has no call for it */
	if (state != FW_IDLE || running(f) != FW_JOB_NONE)
		return LW_NOT_ALLOWED;
	f->refused = 0;
	f->reset = true;
	f->uri[0] = 0;
	return 0;
}

static int fw_write(struct lw_object *o, uint16_t inst, uint16_t res, const struct lw_value *v,
		    bool apply)
{
	struct lw_fw *f = fw_of(OBJS(o));
	int state, result, why, rc;

	if (!f)
		return LW_INTERNAL;
	if (res == 0) {
		/* the Package: an empty one (or NULL, "\0") resets; a push is not taken yet */
		if (v->len > 1 || (v->len == 1 && v->buf[0]))
			return LW_NOT_ALLOWED;
		return apply ? fw_reset(f) : 0;
	}
	if (res != 1)
		return LW_NOT_ALLOWED;
	if (v->len > URI_MAX)
		return LW_BAD_REQUEST;
	if (!apply)
		return 0;
	if (!v->len)
		return fw_reset(f);
	/* a new Package URI is taken in Idle only (E.6: Downloading and on reject other writes) */
	fw_now(f, &state, &result);
	if (state != FW_IDLE || running(f) != FW_JOB_NONE)
		return LW_NOT_ALLOWED;
	memcpy(f->uri, v->buf, v->len);
	f->uri[v->len] = 0;
	why = uri_check(f->uri);
	if (why) {
		/* the write succeeds; the error is the Update Result's (E.6) */
		f->refused = why;
		f->reset = false;
		return 0;
	}
	rc = start(f, FW_JOB_PULL, f->uri);
	return rc;
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
	if (state != FW_DOWNLOADED || running(f) != FW_JOB_NONE)
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
		return integer(v, 0); /* pull only, until the Package takes a push */
	}
	return LW_NOT_FOUND;
}

static const struct lw_res_def fw_res[] = {
	{ 0, LW_OPAQUE, LW_OP_W, false },            /* Package */
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
};

/* one instance with an update: section (the engine's configuration), none without */
static size_t fw_instances(const struct m2m_config *cfg)
{
	return cfg->update ? 1 : 0;
}

/* The client ends: the engine stops at its next block (a pull resumes on the next start). */
static void fw_free(struct lw_objects *s)
{
	struct lw_fw *f = s->fw;

	if (!f)
		return;
	f->stop = 1;
	if (f->thread_live)
		pthread_join(f->thread, NULL);
	pthread_mutex_destroy(&f->mu);
	free(f);
	s->fw = NULL;
}

const struct lw_object_def lw_obj_firmware = {
	.id = 5, .res = fw_res, .n_res = ARRAY_SIZE(fw_res), .ops = &fw_ops,
	.instances = fw_instances, .free = fw_free,
};

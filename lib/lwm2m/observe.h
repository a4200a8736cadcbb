/* SPDX-License-Identifier: MIT */
/*
 * Internal to libm2m: the LwM2M information reporting interface (Observe,
 * Notify, Cancel; LwM2M 1.1 TS Core 6.4) on our own notifications rather
 * than libcoap's observers, because an observation must outlive the DTLS
 * session and the process: a queue-mode device woken by cron reports what
 * changed since the last run to the observation the server made then, and
 * notifications that could not go out while the server was out of reach are
 * kept (Server resource 6, "Notification Storing When Disabled or Offline")
 * and sent, oldest first, once it answers again.
 *
 * Notifications are non-confirmable, like libcoap's own (lwm2m-node-lib, for
 * one, never acknowledges a confirmable one), with a confirmable one at least
 * every 24 hours (RFC 7641 4.5). The server being out of reach shows as an
 * Update or that confirmable notification failing; from then on
 * notifications are stored, and sent once an Update succeeds again. libcoap
 * does not report acknowledgements, only failures: a confirmable one counts
 * as delivered once nothing of ours awaits an acknowledgement (mcoap_idle).
 */
#ifndef M2M_LWM2M_OBSERVE_H
#define M2M_LWM2M_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coap/coap.h"
#include "lwm2m/lwm2m.h"
#include "m2m/dm.h"

#define LW_MAX_OBS 16
#define LW_OBS_STORE 8 /* notifications kept per observation while offline */

struct lw_note {
	uint64_t at;          /* wall clock, ms: when the value was taken */
	unsigned cf;          /* its Content-Format */
	uint8_t *p;
	size_t len;
	bool sent;            /* out, acknowledgement awaited */
};

#define LW_OBS_COMPOSITE 8 /* paths of one Observe-Composite */

struct lw_obs {
	char path[32];
	struct lw_path p;
	/* Observe-Composite (on the root path): the paths read for each notification */
	struct lw_path comp[LW_OBS_COMPOSITE];
	size_t n_comp;
	unsigned accept;
	uint8_t token[8];
	size_t toklen;
	uint32_t seq;         /* last Observe value sent */
	uint64_t con_at;      /* wall clock, ms: the last confirmable notification */
	int64_t last_ms;      /* monotonic, ms: when the last value was taken for the server
			       * (negative for one taken before this boot) */
	double last_num;
	bool numeric;
	uint8_t last_hash[8];
	struct lw_note note[LW_OBS_STORE];
	size_t n_note;
	bool earlier;         /* made by the server in an earlier run (loaded from the file) */
};

/*
 * An observation made in an earlier run that the server ended by resetting
 * a notification of ours (RFC 7641 3.6): most likely it no longer knows it
 * (it restarted, or we send from another address), so what changed since
 * did not reach it. Kept, for the status, until the server observes the
 * path again or a new registration starts over.
 */
struct lw_lost {
	char path[32];
	uint64_t at;          /* wall clock, ms: when the reset came */
};

struct lw_observers {
	struct lw_obs o[LW_MAX_OBS];
	size_t n;
	bool offline;         /* the server did not answer: store, do not send */
	bool storing;         /* Server resource 6 */
	size_t note_max;      /* larger values are not stored (0: 1024) */
	size_t dropped;       /* notifications lost to a full store (oldest first) */
	struct lw_lost lost[LW_MAX_OBS];
	size_t n_lost;
	/* failures libcoap reports while we are sending: handled after the flush */
	bool in_flush;
	struct {
		uint8_t token[8];
		size_t toklen;
		bool reset;
	} deferred[4];
	size_t n_deferred;
	m2m_log_fn log;
	void *log_ctx;
};

/*
 * What the server set that decides the notifications, kept with them: the
 * Write-Attributes of every path and Server resources 2, 3 and 6.
 */
struct lw_obs_settings {
	struct lw_attrs attrs[LW_MAX_ATTRS];
	size_t n_attrs;
	unsigned dflt_pmin, dflt_pmax;
	bool storing;
	bool mute_send;       /* Server resource 23 */
	/*
	 * Server resources 1 and 7 as the server wrote them, and the values the
	 * configuration (or bootstrap) gave when it did: a changed configuration
	 * wins over what a server wrote to the old one. 0: not written.
	 */
	unsigned lifetime_s, binding, base_lifetime_s, base_binding;
	bool present;         /* parse: the file had them */
};

/*
 * The server asked to observe path (Observe 0) and is answered with payload:
 * take (or renew) the observation with its token; *seq is the Observe value
 * for the answer. False if there is no room.
 */
bool lw_obs_take(struct lw_observers *s, const struct m2m_coap_msg *req, const struct lw_path *p,
		 const struct lw_records *rs, const uint8_t *payload, size_t len, uint32_t *seq);
/*
 * The observation just taken on path is an Observe-Composite (TS 1.1 Core,
 * Information Reporting) of these paths, notified in SenML format cf. False
 * if there are more than LW_OBS_COMPOSITE paths (the observation is dropped).
 */
bool lw_obs_composite(struct lw_observers *s, const char *path, const struct lw_records *paths,
		      unsigned cf);
/* Observe 1 on path with the observation's token (RFC 7641 3.6), or a renewal refused. */
void lw_obs_cancel(struct lw_observers *s, const char *path, const uint8_t *token,
		   size_t toklen);

/*
 * Decide for each observation whether a notification is due (pmin, pmax,
 * gt, lt, st) and queue it; then send what is queued unless offline.
 */
void lw_obs_tick(struct lw_observers *s, struct lw_registry *reg, unsigned dflt_pmin,
		 unsigned dflt_pmax, struct m2m_coap *c);
/*
 * Values are sampled (a change is seen when a value is read and compared):
 * once a second, and at each step of the loop besides.
 */
#define LW_OBS_SAMPLE_MS 1000
/*
 * How long until an observation must be looked at again (after a tick): the
 * end of its pmin (nothing can be sent before), else the next sample, or its
 * pmax if that comes first. UINT64_MAX without observations.
 */
uint64_t lw_obs_next_ms(const struct lw_observers *s, const struct lw_registry *reg,
			unsigned dflt_pmin, unsigned dflt_pmax);
/* Send what is queued (after the server answered again). */
void lw_obs_flush(struct lw_observers *s, struct m2m_coap *c);
/* libcoap reported a notification failed: the server reset it, or is gone. */
void lw_obs_failed(struct lw_observers *s, const uint8_t *token, size_t toklen, bool reset);
/* Nothing awaits an acknowledgement: what was sent was delivered. */
void lw_obs_delivered(struct lw_observers *s);
/* Notifications sent and not yet known delivered. */
size_t lw_obs_unconfirmed(const struct lw_observers *s);
/* A new registration: the server has forgotten every observation (and what was lost). */
void lw_obs_clear(struct lw_observers *s);

/*
 * Keep the observations and queued notifications across runs (atomic, 0600;
 * what was sent but not confirmed is queued again), and the lost ones. Load ignores a file for
 * another server or endpoint, and anything malformed in it.
 */
struct m2m_state;
int lw_obs_save(const struct lw_observers *s, const struct lw_obs_settings *set,
		const struct m2m_state *st, const char *name, const char *server,
		const char *endpoint, struct m2m_err *err);
void lw_obs_load(struct lw_observers *s, struct lw_obs_settings *set, const struct m2m_state *st,
		 const char *name, const char *server, const char *endpoint);
/* The same from text in memory (the fuzz target's entry). */
void lw_obs_parse(struct lw_observers *s, struct lw_obs_settings *set, const char *text,
		  size_t len, const char *server, const char *endpoint);
void lw_obs_free(struct lw_observers *s);

/*
 * Between observe.c (the observations while a run lasts) and observe_store.c
 * (what is kept across runs).
 */
#define NOTE_MAX (64 * 1024) /* a stored notification larger than this is not kept */
uint64_t lw_obs_wall_ms(void);
struct lw_obs *lw_obs_by_path(struct lw_observers *s, const char *path);
void lw_obs_notes_free(struct lw_obs *o);
void lw_obs_lost_add(struct lw_observers *s, const char *path, uint64_t at);
/* the most notifications stored for one observation */
size_t lw_obs_note_max(const struct lw_observers *s);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Internal to lib/lwm2m: the client's context, shared by client.c (the
 * registration, serving), dm_requests.c (the server's requests) and
 * dm_state.c (what it keeps on disk).
 */
#ifndef M2M_LWM2M_DM_INT_H
#define M2M_LWM2M_DM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "coap/coap.h"
#include "lwm2m/lwm2m.h"
#include "lwm2m/objects.h"
#include "lwm2m/observe.h"
#include "lwm2m/state.h"
#include "m2m/dm.h"
#include "m2m/keystore.h"

struct m2m_dm {
	const struct m2m_config *cfg;
	struct m2m_coap *coap;
	struct lw_registry reg;
	struct lw_objects objs;
	struct m2m_dm_state st;
	char links[1024];       /* object links last sent */
	unsigned sent_lifetime;
	unsigned sent_binding;
	bool v10;               /* registered as LwM2M 1.0: the server refused 1.1 */
	bool try_v10;           /* the next Register is 1.0's (the server just refused 1.1) */
	struct lw_bs_server bs; /* what a bootstrap server gave (libcoap keeps pointers into it) */
	struct lw_observers obs;
	bool obs_loaded;        /* the saved observations were read: save them back */
	bool obs_dirty;         /* observations or what the server set for them changed */
	uint64_t obs_saved_at;  /* monotonic ms of the last save (at most one a second: flash) */
	uint64_t retry_at;      /* offline: when to try the Update again (monotonic) */
	unsigned retries;
	m2m_log_fn log;
	void *log_ctx;
	struct m2m_secret pin;  /* token PIN: libcoap keeps a pointer to it; TPM auth value */
	struct m2m_key *store_key; /* DTLS key in a TPM: signs for the session */
	unsigned base_lifetime_s, base_binding; /* from the configuration or the bootstrap */
	unsigned kept_port;     /* plain CoAP: the local port of the last run (0: none) */
	struct m2m_err kept_why; /* why the saved registration was set aside, for the log */
	struct lw_update {      /* the Update or Register under way (serving does not wait) */
		bool active;
		enum lw_upd_kind {
			LW_UPDATE,      /* an Update */
			LW_REG_FIRST,   /* a Register: not registered yet */
			LW_REG_404,     /* a Register in place of an Update (its 4.04 called
					   for one, or queue mode changed under 1.1): its
					   outcome is the Update's */
			LW_REG_AGAIN,   /* a Register after an Update answered wrongly */
		} kind;
		bool rehandshook; /* over DTLS: already tried again after a new handshake */
		bool v10;         /* a Register as LwM2M 1.0 */
		struct lw_buf links;
		bool send_links;
		char query[256];
		unsigned lt, b, timeout_ms;
		unsigned reg_timeout_ms; /* for the Register a 4.04 calls for: --serve waits
					    long for an Update (CoAP's span), not for that */
		uint64_t t0;      /* monotonic ms: when it started */
	} upd;
};

#define logf_(dm, ...) LW_LOG((dm)->log, (dm)->log_ctx, __VA_ARGS__)

/* dm_requests.c: the server's requests (m2m_coap_handler) and failed notifications */
void lw_dm_on_request(void *ctx, const struct m2m_coap_msg *req, struct m2m_coap_reply *rep);
/* A Write of a resource taken a block at a time (mcoap_on_block1): its answer */
unsigned lw_dm_on_block(void *ctx, const struct m2m_coap_msg *req, uint64_t offset);
void lw_dm_on_notify_failed(void *ctx, const uint8_t *token, size_t toklen, bool reset);

/*
 * dm_state.c: the saved registration (links: the object links last sent; v10:
 * whether it is LwM2M 1.0's; either may be NULL)
 */
int lw_dm_state_read(const struct m2m_config *cfg, struct m2m_dm_state *st, char *links,
		     size_t links_len, bool *v10);
void lw_dm_state_save(struct m2m_dm *dm);
/*
 * dm_state.c: kept_port, the local UDP port the last run sent from (plain
 * CoAP; 0: none), read before the session is made; a damaged registration
 * file is set aside here, and lw_dm_obs_load() says so (kept_why).
 */
void lw_dm_port_load(struct m2m_dm *dm);
/* dm_state.c: the observations and what the server set for them (obs_loaded: once read) */
void lw_dm_obs_load(struct m2m_dm *dm);
void lw_dm_obs_save(struct m2m_dm *dm);

#endif

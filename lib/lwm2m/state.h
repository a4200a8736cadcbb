/* SPDX-License-Identifier: MIT */
/*
 * Internal: the state files both the bootstrap and the client read (state.c):
 * the server and credentials a bootstrap server gave us, the JSON reader.
 */
#ifndef M2M_LWM2M_STATE_H
#define M2M_LWM2M_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "base/base.h"
#include "m2m/config.h"

struct lw_bs_server {
	char uri[256];
	int mode;               /* Security Mode: 0 PSK, 2 Certificate, 3 NoSec */
	uint8_t identity[2048]; /* PSK identity, or our certificate (DER) */
	size_t id_len;
	uint8_t secret[2048];   /* PSK key, or our private key (DER) */
	size_t secret_len;
	uint8_t server_key[2048]; /* mode 2: the server's certificate or its CA (DER) */
	size_t server_key_len;
	unsigned ssid, lifetime;
	char binding[4];
	/*
	 * As the bootstrap server wrote them (TS 1.1 Core 5.2.7.4, appendix E):
	 * the Security (0) and Server (1) instance IDs, linked by ssid, and the
	 * Server resources 2, 3, 5 and 6 this client keeps (has: LW_BS_HAS_*).
	 */
	uint16_t sec_inst, srv_inst;
	unsigned dflt_pmin, dflt_pmax, disable_timeout;
	bool notif_storing;
	unsigned has;
};

enum { LW_BS_HAS_PMIN = 1, LW_BS_HAS_PMAX = 2, LW_BS_HAS_DISABLE = 4, LW_BS_HAS_STORING = 8 };

/* state_dir/dm-bootstrap.json, if a bootstrap finished; M2M_ERR_NOT_FOUND if not. */
int lw_bs_load(const struct m2m_config *cfg, struct lw_bs_server *out);
/* Keep s in state_dir/dm-bootstrap.json (atomic write, 0600). */
int lw_bs_save(const struct m2m_config *cfg, const struct lw_bs_server *s, struct m2m_err *err);

/* What a JSON state file must hold for its reader; M2M_OK or why not (err). */
typedef int (*lw_json_check_fn)(json_object *o, void *ctx, struct m2m_err *err);

/*
 * The JSON object in name (at most max bytes) in cfg's state directory, which
 * check (if any) accepted: *out, the caller puts it. M2M_ERR_NOT_FOUND if there
 * is none (nor a state directory we may read: nothing is created), M2M_ERR_CONFIG
 * if the directory is not safe (m2m_state_open). A file that is not a
 * JSON object or that check refuses is set aside as name.bad: M2M_ERR_FAILURE,
 * err says so. The raw bytes are wiped: the bootstrap file holds a PSK.
 */
int lw_state_read_json(const struct m2m_config *cfg, const char *name, size_t max,
		       lw_json_check_fn check, void *ctx, json_object **out, struct m2m_err *err);
/* Replace name with txt (atomic, 0600), the state directory created if need be. */
int lw_state_write(const struct m2m_config *cfg, const char *name, const char *txt,
		   struct m2m_err *err);

#endif

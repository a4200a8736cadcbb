/* SPDX-License-Identifier: MIT */
/*
 * Internal: the state files both the bootstrap and the client read (state.c):
 * the server and credentials a bootstrap server gave us, the JSON reader.
 */
#ifndef M2M_LWM2M_STATE_H
#define M2M_LWM2M_STATE_H

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
};

/* state_dir/dm-bootstrap.json, if a bootstrap finished; M2M_ERR_NOT_FOUND if not. */
int lw_bs_load(const struct m2m_config *cfg, struct lw_bs_server *out);
/* Keep s in state_dir/dm-bootstrap.json (atomic write, 0600). */
int lw_bs_save(const struct m2m_config *cfg, const struct lw_bs_server *s, struct m2m_err *err);

/*
 * A small JSON state file (registration state, bootstrap result) as a json-c
 * object, or NULL if it is missing or not JSON. The raw bytes are wiped: the
 * bootstrap file holds a PSK. The caller keeps path (and frees it).
 */
json_object *lw_read_json_state(const char *path);

#endif

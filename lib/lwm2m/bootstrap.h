/* SPDX-License-Identifier: MIT */
/* Internal: the server and credentials a bootstrap server gave us. */
#ifndef M2M_LWM2M_BOOTSTRAP_H
#define M2M_LWM2M_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

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
struct m2m_coap_opts;

/*
 * The transport to a server of the configuration itself (its bootstrap
 * server, or its LwM2M server): security mode, files or token key, the PSK
 * read into *key and the token PIN (or TPM auth value) into *pin, both for
 * the caller to wipe (the PIN only after mcoap_close(): libcoap keeps a
 * pointer to it). A TPM key is opened and its auth value tried here, under
 * the TPM's lockout policy (exit 9, 13 as for VPN keys): o->store_key, for
 * the caller to close with m2m_key_close() after mcoap_close().
 */
int lw_config_opts(const struct m2m_config *cfg, const char *uri, struct m2m_coap_opts *o,
		   struct m2m_secret *key, struct m2m_secret *pin, struct m2m_err *err);

#endif

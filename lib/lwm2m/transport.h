/* SPDX-License-Identifier: MIT */
/* Internal: the transport to a server of the configuration (transport.c). */
#ifndef M2M_LWM2M_TRANSPORT_H
#define M2M_LWM2M_TRANSPORT_H

#include "base/base.h"
#include "m2m/config.h"

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

/* SPDX-License-Identifier: MIT */
/*
 * m2m: decommissioning in one auditable step. The device gives up its
 * identity: the keys of every VPN profile and of the management (DTLS) in
 * their stores (a TPM's persistent key evicted, a token's objects destroyed,
 * a key file overwritten and removed), the certificates, the secrets the
 * configuration names in files (PINs, passwords, pre-shared keys, the CA's
 * one-time secret), what charon holds of the profiles, and the state
 * directory but for the audit log. The audit log says when it began, who
 * asked and why, and what was destroyed and what was not.
 */
#ifndef M2M_WIPE_H
#define M2M_WIPE_H

#include <stdbool.h>

#include "m2m/config.h"
#include "m2m/m2m.h"

#ifdef __cplusplus
extern "C" {
#endif

#define M2M_WIPE_RESULT_VERSION 1

struct m2m_wipe_result {
	unsigned version;      /* set by the caller: M2M_WIPE_RESULT_VERSION */
	unsigned destroyed;    /* things destroyed (a key, a file, a connection) */
	unsigned gone;         /* things named that were not there (a wipe done before) */
	unsigned failed;       /* things that could not be destroyed */
	char audit_head[65];   /* SHA-256 (hex) of the audit log's last record, the wipe's end */
};

/*
 * Wipe the device as above; reason (required, one line) goes to the audit
 * log with the caller's uid, and log (may be NULL) hears each thing
 * destroyed or not. Nothing is destroyed unless that first record is written
 * (BUSY while a policy check holds the log past its bound). Every key goes
 * before any secret file; a PIN whose key failed is kept for the next wipe.
 * A symbolic link is not followed (the link goes, its target is a failure). Everything is tried, whatever fails: M2M_OK if nothing
 * failed, else the class of the first failure (DEVICE: a TPM or token not
 * there, CREDENTIAL: a token's PIN refused, PIN_LOCKOUT, FAILURE) with its
 * message, and res says how many. A second wipe finds nothing and is M2M_OK.
 * One wipe at a time (BUSY). A file is overwritten before it is removed; on
 * flash storage (wear levelling) copies of its blocks may remain: a key in a
 * TPM or a token, or bound to the machine with a TPM, is the one destroyed
 * for sure.
 */
int m2m_wipe(const struct m2m_config *cfg, const char *reason, m2m_log_fn log, void *log_ctx,
	     struct m2m_wipe_result *res, struct m2m_err *err);

#ifdef __cplusplus
}
#endif

#endif

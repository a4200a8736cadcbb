/* SPDX-License-Identifier: MIT */
/*
 * lib/policy's module header: what modules above it (the wipe, the LwM2M object) use of it
 * besides the public m2m/policy.h. Internal to libm2m.
 */
#ifndef M2M_POLICY_MODULE_H
#define M2M_POLICY_MODULE_H

#include "m2m/config.h"
#include "m2m/m2m.h"

/*
 * Append one record to the device's audit log (event: "wipe"; detail one
 * line, made printable ASCII), under the policy lock (waited for at most
 * wait_ms: BUSY). head (may be NULL, 65 bytes) gets the log's new head.
 * INTEGRITY if the log's chain is broken: nothing is appended to it then.
 */
int pol_audit_event(const struct m2m_config *cfg, const char *event, const char *detail,
		    unsigned wait_ms, char *head, struct m2m_err *err);

/*
 * What the files m2m_policy_status() reads are now (identity, size and change
 * time of the state, both halves of the audit log and the quarantine's
 * record) as a string: the same string, the same status, but for the
 * quarantine's rules, which may be flushed under it. Reading the status
 * checks the whole audit chain (17 ms for 3000 records here), so a reader
 * that asks often (the LwM2M object) reads it again only when this changed.
 */
void pol_files_signature(const struct m2m_config *cfg, char *out, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * lib/policy's module header: what modules above it (the wipe) use of it
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

#endif

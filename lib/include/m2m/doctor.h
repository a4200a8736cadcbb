/* SPDX-License-Identifier: MIT */
/*
 * m2m: pre-flight checks of the VPN profiles (what `m2mvpn-cert doctor`
 * prints): the key store answers, the key signs, the certificate matches it,
 * chains to the CA and is valid now, the EAP password can be read, charon
 * answers and has the plugins the method needs. Each check is one result;
 * the caller prints them.
 */
#ifndef M2M_DOCTOR_H
#define M2M_DOCTOR_H

#include <stddef.h>

#include "m2m/config.h"
#include "m2m/m2m.h"

#ifdef __cplusplus
extern "C" {
#endif

enum m2m_check_status {
	M2M_CHECK_OK = 0,
	M2M_CHECK_WARN = 1,
	M2M_CHECK_FAIL = 2,
	M2M_CHECK_SKIP = 3,
};

struct m2m_check {
	const char *profile;     /* the profile's name (points into the config) */
	char check[16];          /* "key", "tpm", "token", "pin", "sign", "cert", "clock", ... */
	enum m2m_check_status status;
	int code;                /* FAIL: the result code that says why; else 0 */
	char message[512];       /* one line of detail */
};

/*
 * The results, in the order run. Each item is allocated by the library, so
 * struct m2m_check can grow at its end within the SONAME; the caller
 * allocates this list, whose version says which layout it has (docs/ABI.md).
 */
#define M2M_CHECKS_VERSION 1
struct m2m_checks {
	unsigned version;        /* M2M_CHECKS_VERSION */
	struct m2m_check **items;
	size_t n, cap;
	int rc;                  /* the first failure's code, M2M_OK if none */
};

/*
 * Run every check of profile p (of cfg) and append the results to out
 * (zero-initialised with its version set, the first time). Returns M2M_OK,
 * FAILURE if out of memory, USAGE for a version this library does not know;
 * failed checks are results, not errors. Free with m2m_checks_free.
 */
int m2m_doctor_profile(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		       struct m2m_checks *out);
void m2m_checks_free(struct m2m_checks *c);

/* "ok", "warn", "fail", "skip" */
const char *m2m_check_status_name(enum m2m_check_status s);

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/*
 * Test module: SoftHSM2 (its path in M2M_P11_REAL, default Debian's) behind a
 * C_Login that answers CKR_PIN_LOCKED whatever the PIN, while the token's
 * flags say nothing of it, as a token that does not report its retry counter
 * would once locked. Each C_Login is logged as a line to M2M_P11_LOG (if
 * set), so that a test can count the tries. Built as
 * build/tests/tools/libp11-locked.so; not installed.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST list;

static CK_RV locked_login(CK_SESSION_HANDLE s, CK_USER_TYPE t, CK_UTF8CHAR_PTR pin, CK_ULONG n)
{
	const char *log = getenv("M2M_P11_LOG");
	FILE *f = log ? fopen(log, "ae") : NULL;

	(void)s;
	(void)t;
	(void)pin;
	(void)n;
	if (f) {
		fputs("C_Login\n", f);
		fclose(f);
	}
	return CKR_PIN_LOCKED;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	const char *path = getenv("M2M_P11_REAL");
	void *lib = dlopen(path ? path : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR real = NULL;

	if (!lib)
		return CKR_GENERAL_ERROR;
	*(void **)&get = dlsym(lib, "C_GetFunctionList");
	if (!get || get(&real) != CKR_OK || !real)
		return CKR_GENERAL_ERROR;
	list = *real;
	list.C_Login = locked_login;
	*out = &list;
	return CKR_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * Test module: a PKCS#11 module whose C_Initialize never returns, as one whose
 * daemon or reader hangs would. Built as build/tests/tools/libp11-hang.so;
 * not installed.
 */
#include <unistd.h>

#include <p11-kit/pkcs11.h>

static CK_RV hang(CK_VOID_PTR args)
{
	(void)args;
	for (;;)
		pause();
	return CKR_OK;
}

static CK_FUNCTION_LIST list = { .version = { 2, 40 }, .C_Initialize = hang };

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	*out = &list;
	return CKR_OK;
}

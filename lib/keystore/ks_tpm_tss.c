/* SPDX-License-Identifier: MIT */
/*
 * tpm2-tss (six libraries) is loaded when a TPM is first used, not when a
 * tool starts: most runs of m2mvpn-connect never touch a TPM, and loading it
 * costs start-up time and memory on small devices.
 */
#define KS_TPM_TSS_LOADER
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include "keystore/ks_tpm.h"

struct ks_tss ks_tss;

static void load(void)
{
	static const char *const names[] = { "libtss2-esys.so.0", "libtss2-tctildr.so.0",
					     "libtss2-rc.so.0", "libtss2-mu.so.0" };
	void *h[4];

	ks_tss.tried = true;
	/*
	 * tpm2-tss logs its errors to stderr unless told otherwise; the library
	 * reports through struct m2m_err instead. Set once, here, before the
	 * libraries are loaded, and never again: the LwM2M client's update
	 * worker may meet a TPM (the version floor) while its CoAP loop does
	 * (a DTLS key), and an environment changed under another thread's
	 * getenv() is undefined.
	 */
	setenv("TSS2_LOG", "all+none", 0);
	for (int i = 0; i < 4; i++) {
		h[i] = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (!h[i])
			return;
	}
	*(void **)&ks_tss.Esys_Create = dlsym(h[0], "Esys_Create");
	*(void **)&ks_tss.Esys_CreatePrimary = dlsym(h[0], "Esys_CreatePrimary");
	*(void **)&ks_tss.Esys_EvictControl = dlsym(h[0], "Esys_EvictControl");
	*(void **)&ks_tss.Esys_Finalize = dlsym(h[0], "Esys_Finalize");
	*(void **)&ks_tss.Esys_FlushContext = dlsym(h[0], "Esys_FlushContext");
	*(void **)&ks_tss.Esys_Free = dlsym(h[0], "Esys_Free");
	*(void **)&ks_tss.Esys_GetCapability = dlsym(h[0], "Esys_GetCapability");
	*(void **)&ks_tss.Esys_Import = dlsym(h[0], "Esys_Import");
	*(void **)&ks_tss.Esys_Initialize = dlsym(h[0], "Esys_Initialize");
	*(void **)&ks_tss.Esys_Load = dlsym(h[0], "Esys_Load");
	*(void **)&ks_tss.Esys_NV_DefineSpace = dlsym(h[0], "Esys_NV_DefineSpace");
	*(void **)&ks_tss.Esys_NV_Read = dlsym(h[0], "Esys_NV_Read");
	*(void **)&ks_tss.Esys_NV_ReadPublic = dlsym(h[0], "Esys_NV_ReadPublic");
	*(void **)&ks_tss.Esys_NV_Write = dlsym(h[0], "Esys_NV_Write");
	*(void **)&ks_tss.Esys_ReadPublic = dlsym(h[0], "Esys_ReadPublic");
	*(void **)&ks_tss.Esys_Sign = dlsym(h[0], "Esys_Sign");
	*(void **)&ks_tss.Esys_TR_FromTPMPublic = dlsym(h[0], "Esys_TR_FromTPMPublic");
	*(void **)&ks_tss.Esys_TR_SetAuth = dlsym(h[0], "Esys_TR_SetAuth");
	*(void **)&ks_tss.Esys_Unseal = dlsym(h[0], "Esys_Unseal");
	*(void **)&ks_tss.Tss2_RC_Decode = dlsym(h[2], "Tss2_RC_Decode");
	*(void **)&ks_tss.Tss2_TctiLdr_Finalize = dlsym(h[1], "Tss2_TctiLdr_Finalize");
	*(void **)&ks_tss.Tss2_TctiLdr_Initialize = dlsym(h[1], "Tss2_TctiLdr_Initialize");
	*(void **)&ks_tss.Tss2_MU_TPMT_SENSITIVE_Marshal = dlsym(h[3], "Tss2_MU_TPMT_SENSITIVE_Marshal");
	*(void **)&ks_tss.Tss2_MU_TPM2B_PUBLIC_Marshal = dlsym(h[3], "Tss2_MU_TPM2B_PUBLIC_Marshal");
	*(void **)&ks_tss.Tss2_MU_TPM2B_PUBLIC_Unmarshal = dlsym(h[3], "Tss2_MU_TPM2B_PUBLIC_Unmarshal");
	*(void **)&ks_tss.Tss2_MU_TPM2B_PRIVATE_Marshal = dlsym(h[3], "Tss2_MU_TPM2B_PRIVATE_Marshal");
	*(void **)&ks_tss.Tss2_MU_TPM2B_PRIVATE_Unmarshal = dlsym(h[3], "Tss2_MU_TPM2B_PRIVATE_Unmarshal");
	ks_tss.ok = ks_tss.Esys_Create &&
		 ks_tss.Esys_CreatePrimary &&
		 ks_tss.Esys_EvictControl &&
		 ks_tss.Esys_Finalize &&
		 ks_tss.Esys_FlushContext &&
		 ks_tss.Esys_Free &&
		 ks_tss.Esys_GetCapability &&
		 ks_tss.Esys_Import &&
		 ks_tss.Esys_Initialize &&
		 ks_tss.Esys_Load &&
		 ks_tss.Esys_NV_DefineSpace &&
		 ks_tss.Esys_NV_Read &&
		 ks_tss.Esys_NV_ReadPublic &&
		 ks_tss.Esys_NV_Write &&
		 ks_tss.Esys_ReadPublic &&
		 ks_tss.Esys_Sign &&
		 ks_tss.Esys_TR_FromTPMPublic &&
		 ks_tss.Esys_TR_SetAuth &&
		 ks_tss.Esys_Unseal &&
		 ks_tss.Tss2_RC_Decode &&
		 ks_tss.Tss2_TctiLdr_Finalize &&
		 ks_tss.Tss2_TctiLdr_Initialize &&
		 ks_tss.Tss2_MU_TPMT_SENSITIVE_Marshal &&
		 ks_tss.Tss2_MU_TPM2B_PUBLIC_Marshal &&
		 ks_tss.Tss2_MU_TPM2B_PUBLIC_Unmarshal &&
		 ks_tss.Tss2_MU_TPM2B_PRIVATE_Marshal &&
		 ks_tss.Tss2_MU_TPM2B_PRIVATE_Unmarshal;
}

/* once per process, whichever thread comes first; the others wait for it */
bool ks_tss_load(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, load);
	return ks_tss.ok;
}

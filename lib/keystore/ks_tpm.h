/* SPDX-License-Identifier: MIT */
/*
 * Internal to the TPM store (ks_tpm*.c): tpm2-tss loaded at run time, the
 * connection to a TPM through its TCTI, and what the store's parts share.
 */
#ifndef M2M_KS_TPM_H
#define M2M_KS_TPM_H

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "keystore/ks_int.h"

/* tpm2-tss's calls, resolved by ks_tss_load() (ks_tpm_tss.c) */
struct ks_tss {
	bool tried, ok;
	__typeof__(Esys_Create) *Esys_Create;
	__typeof__(Esys_CreatePrimary) *Esys_CreatePrimary;
	__typeof__(Esys_EvictControl) *Esys_EvictControl;
	__typeof__(Esys_Finalize) *Esys_Finalize;
	__typeof__(Esys_FlushContext) *Esys_FlushContext;
	__typeof__(Esys_Free) *Esys_Free;
	__typeof__(Esys_GetCapability) *Esys_GetCapability;
	__typeof__(Esys_Import) *Esys_Import;
	__typeof__(Esys_Initialize) *Esys_Initialize;
	__typeof__(Esys_Load) *Esys_Load;
	/* NV storage: the update engine's anti-rollback floor (lib/update/floor_tpm.c) */
	__typeof__(Esys_NV_DefineSpace) *Esys_NV_DefineSpace;
	__typeof__(Esys_NV_Read) *Esys_NV_Read;
	__typeof__(Esys_NV_ReadPublic) *Esys_NV_ReadPublic;
	__typeof__(Esys_NV_Write) *Esys_NV_Write;
	__typeof__(Esys_ReadPublic) *Esys_ReadPublic;
	__typeof__(Esys_Sign) *Esys_Sign;
	__typeof__(Esys_TR_FromTPMPublic) *Esys_TR_FromTPMPublic;
	__typeof__(Esys_TR_SetAuth) *Esys_TR_SetAuth;
	__typeof__(Esys_Unseal) *Esys_Unseal;
	__typeof__(Tss2_RC_Decode) *Tss2_RC_Decode;
	__typeof__(Tss2_TctiLdr_Finalize) *Tss2_TctiLdr_Finalize;
	__typeof__(Tss2_TctiLdr_Initialize) *Tss2_TctiLdr_Initialize;
	__typeof__(Tss2_MU_TPMT_SENSITIVE_Marshal) *Tss2_MU_TPMT_SENSITIVE_Marshal;
	/* a key's blob (ks_tpm_blob.c) */
	__typeof__(Tss2_MU_TPM2B_PUBLIC_Marshal) *Tss2_MU_TPM2B_PUBLIC_Marshal;
	__typeof__(Tss2_MU_TPM2B_PUBLIC_Unmarshal) *Tss2_MU_TPM2B_PUBLIC_Unmarshal;
	__typeof__(Tss2_MU_TPM2B_PRIVATE_Marshal) *Tss2_MU_TPM2B_PRIVATE_Marshal;
	__typeof__(Tss2_MU_TPM2B_PRIVATE_Unmarshal) *Tss2_MU_TPM2B_PRIVATE_Unmarshal;
};
extern struct ks_tss ks_tss;

/* the calls through the table (not in ks_tpm_tss.c, which fills it) */
#ifndef KS_TPM_TSS_LOADER
#define Esys_Create (ks_tss.Esys_Create)
#define Esys_CreatePrimary (ks_tss.Esys_CreatePrimary)
#define Esys_EvictControl (ks_tss.Esys_EvictControl)
#define Esys_Finalize (ks_tss.Esys_Finalize)
#define Esys_FlushContext (ks_tss.Esys_FlushContext)
#define Esys_Free (ks_tss.Esys_Free)
#define Esys_GetCapability (ks_tss.Esys_GetCapability)
#define Esys_Import (ks_tss.Esys_Import)
#define Esys_Initialize (ks_tss.Esys_Initialize)
#define Esys_Load (ks_tss.Esys_Load)
#define Esys_NV_DefineSpace (ks_tss.Esys_NV_DefineSpace)
#define Esys_NV_Read (ks_tss.Esys_NV_Read)
#define Esys_NV_ReadPublic (ks_tss.Esys_NV_ReadPublic)
#define Esys_NV_Write (ks_tss.Esys_NV_Write)
#define Esys_ReadPublic (ks_tss.Esys_ReadPublic)
#define Esys_Sign (ks_tss.Esys_Sign)
#define Esys_TR_FromTPMPublic (ks_tss.Esys_TR_FromTPMPublic)
#define Esys_TR_SetAuth (ks_tss.Esys_TR_SetAuth)
#define Esys_Unseal (ks_tss.Esys_Unseal)
#define Tss2_RC_Decode (ks_tss.Tss2_RC_Decode)
#define Tss2_TctiLdr_Finalize (ks_tss.Tss2_TctiLdr_Finalize)
#define Tss2_TctiLdr_Initialize (ks_tss.Tss2_TctiLdr_Initialize)
#define Tss2_MU_TPMT_SENSITIVE_Marshal (ks_tss.Tss2_MU_TPMT_SENSITIVE_Marshal)
#define Tss2_MU_TPM2B_PUBLIC_Marshal (ks_tss.Tss2_MU_TPM2B_PUBLIC_Marshal)
#define Tss2_MU_TPM2B_PUBLIC_Unmarshal (ks_tss.Tss2_MU_TPM2B_PUBLIC_Unmarshal)
#define Tss2_MU_TPM2B_PRIVATE_Marshal (ks_tss.Tss2_MU_TPM2B_PRIVATE_Marshal)
#define Tss2_MU_TPM2B_PRIVATE_Unmarshal (ks_tss.Tss2_MU_TPM2B_PRIVATE_Unmarshal)
#endif

/* Load tpm2-tss (once); false if a library or a symbol is missing. */
bool ks_tss_load(void);

struct tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR key;
	TPMI_ALG_PUBLIC type;
	TPMT_SIG_SCHEME scheme;
	bool noda;              /* the key is exempt from dictionary-attack lockout */
	bool transient;         /* key is a blob loaded for this connection: flushed at close */
	bool auth_failed;       /* the TPM refused the auth value */
	const struct m2m_secret *auth; /* set: use it, do not read the source again */
	/*
	 * The auth value passed the policy (ks_tpm_unlock) in this process: every
	 * signature goes through it first, whichever tool or subcommand asks.
	 */
	bool unlocked, unlocking;
	struct m2m_secret own;  /* the value the policy read, when no caller gave one */
	char tcti_conf[256];
};

uint32_t ks_tpm_handle(const struct m2m_key_ref *ref);
/* The TPM's response code without the handle/session/parameter number. */
TSS2_RC ks_tpm_base_rc(TSS2_RC rc);
/* err from a TSS2 code: wrong auth value, lockout, out of memory, or the decoded code */
int ks_tpm_err(struct m2m_err *err, TSS2_RC rc, const char *what, uint32_t handle);
/* The persistent object at handle; NOT_FOUND only if the TPM says there is none. */
int ks_tpm_from_handle(struct tpm *t, uint32_t handle, ESYS_TR *obj, struct m2m_err *err);
/* Load tpm2-tss, probe the TPM under the deadline, connect through the reference's TCTI. */
int ks_tpm_connect(const struct m2m_key_ref *ref, struct tpm **out, struct m2m_err *err);
void ks_tpm_close(struct tpm *t);
/* The key's auth value for obj: the one already read (t->auth), else from ref's source. */
int ks_tpm_set_auth(struct tpm *t, ESYS_TR obj, const struct m2m_key_ref *ref, const char *what,
		    struct m2m_err *err);

/* ---- making keys (ks_tpm_make.c) ---- */
int ks_tpm_generate(const struct m2m_key_ref *ref, enum m2m_key_type type, bool replace,
		    struct m2m_err *err);
int ks_tpm_import(const struct m2m_key_ref *ref, EVP_PKEY *pk, X509 *cert, bool replace,
		  struct m2m_err *err);
/* The deterministic storage primary every key is made under (flush it). */
int ks_tpm_primary(struct tpm *t, ESYS_TR *prim, uint32_t handle, struct m2m_err *err);

/*
 * ---- key blobs (ks_tpm_blob.c) ----
 * A key's TPM2B_PUBLIC and TPM2B_PRIVATE (the private part wrapped by the
 * storage primary: usable in this TPM only), marshalled after a magic, in a
 * 0600 file: a renewal's next key (m2m_key_ref_next()) lives in one, and
 * the key at a persistent handle is kept in one too (the state directory's
 * tpm-key-0xHANDLE), so that a swap can put it back after it was evicted.
 */
#define KS_TPM_BLOB_MAGIC "m2mtpmk1"
int ks_tpm_blob_write(const char *path, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
		      struct m2m_err *err);
/* NOT_FOUND if there is none, CREDENTIAL if it is not a blob of ours. */
int ks_tpm_blob_read(const char *path, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv,
		     struct m2m_err *err);
/* The blob's key loaded under the primary, transient (flush *key). */
int ks_tpm_blob_load(struct tpm *t, const char *path, uint32_t handle, ESYS_TR *key,
		     struct m2m_err *err);

#endif

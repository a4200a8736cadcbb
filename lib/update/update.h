/* SPDX-License-Identifier: MIT */
/*
 * lib/update's module header: the package format and its streaming verifier,
 * the types the transports, the journal and the installers share. Callers
 * above (the LwM2M Firmware Update object, cmd/m2mdm-update) use this and
 * the headers beside it (fetch.h, journal.h, install.h).
 *
 * The package format (m2m-update(5)), all integers big-endian:
 *
 *   offset 0   "M2MUPD1\n"                         8 bytes, the magic
 *   offset 8   manifest length M (uint32)          1 <= M <= UPD_MANIFEST_MAX
 *   offset 12  signature length S (uint32)         1 <= S <= UPD_SIG_MAX
 *   offset 16  the manifest: M bytes of UTF-8 JSON (below)
 *   16 + M     the signature: S bytes of DER CMS SignedData, detached, over
 *              exactly the M manifest bytes; one SignerInfo per signer
 *   16 + M + S the payload: manifest.size bytes whose SHA-256 is manifest.sha256
 *   nothing after it
 *
 * The manifest (format 1), every key required unless marked, no other key:
 *   {"format": 1,
 *    "type": "firmware" | "software" | "config",
 *    "name": "pos-firmware",                  [A-Za-z0-9._-]{1,63}
 *    "version": "2.4.1",                      1 to 4 dot-separated numbers
 *    "min_installed": "2.0.0",                optional: the oldest version it updates from
 *    "models": ["pos-a", "pos-b"],            1 to UPD_MODELS_MAX device models
 *    "size": 104857600,                       payload bytes
 *    "sha256": "<64 lower-case hex>",         the payload's
 *    "installer": "rauc" | "script" | "config" | "trust",  (config and trust: type config)
 *    "expires": "2027-06-01T00:00:00Z"}       RFC 3339 UTC; refused after it
 *
 * Verification streams: the manifest and its signature are checked before a
 * byte of payload is accepted, the payload's hash while it arrives, so a
 * package of any size never sits in memory.
 */
#ifndef M2M_UPDATE_H
#define M2M_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m2m/m2m.h"

#define UPD_MAGIC "M2MUPD1\n"
#define UPD_MAGIC_LEN 8
#define UPD_HEADER_LEN 16
#define UPD_MANIFEST_MAX 16384
#define UPD_SIG_MAX 32768
#define UPD_MODELS_MAX 16

enum upd_type {
	UPD_FIRMWARE = 1,
	UPD_SOFTWARE,
	UPD_CONFIG,
};

/* "firmware", "software", "config"; "unknown" */
const char *upd_type_name(enum upd_type t);

/* A version: 1 to 4 numbers, each 0..999999999, compared number by number. */
struct upd_version {
	unsigned n;
	uint32_t part[4];
};
/* false if s is not such a version ("1.2.3"; no sign, no leading "v", no empty part) */
bool upd_version_parse(const char *s, struct upd_version *v);
/* <0, 0, >0; missing parts count as 0 ("1.2" == "1.2.0") */
int upd_version_cmp(const struct upd_version *a, const struct upd_version *b);

struct upd_manifest {
	unsigned format;                  /* 1 */
	enum upd_type type;
	char name[64];
	char version[40];
	char min_installed[40];           /* "" if absent */
	char models[UPD_MODELS_MAX][64];
	size_t n_models;
	uint64_t size;
	uint8_t sha256[32];
	char installer[16];               /* "rauc", "script", "config", "trust" */
	int64_t expires;                  /* unix time, UTC */
};

/*
 * Parse and check a manifest's JSON (len bytes, not NUL-terminated): every
 * key present with the right type and form, no other key. INTEGRITY with the
 * reason if not (it is signed data that does not say what a manifest must).
 */
int upd_manifest_parse(const char *json, size_t len, struct upd_manifest *m, struct m2m_err *err);
/* The manifest as JSON, the form upd_manifest_parse reads; free() it. NULL if out of memory. */
char *upd_manifest_json(const struct upd_manifest *m);

/*
 * What this device accepts. installed/floor are versions ("" or NULL: none).
 */
struct upd_policy {
	const char *trust;                /* PEM file: the trust anchor(s) of package signers */
	const char *model;                /* this device's model (device.model) */
	bool any_model;                   /* the vendor's check (m2m_update_verify): no model */
	unsigned signatures;              /* distinct signers required for firmware; 0 means 1 */
	const char *installed;            /* the installed version of this package name */
	const char *floor;                /* the lowest acceptable version (anti-rollback) */
	const char *const *downgrades;    /* NULL-terminated: exact versions allowed below installed */
	int64_t now;                      /* unix time for the expiry check; 0: time(NULL) */
	/*
	 * Optional: the installed version and the floor of a package name,
	 * asked for once the manifest names it (they then replace installed
	 * and floor); "" for none. An error stops the verification with it.
	 */
	int (*versions)(void *ctx, const char *name, char *installed, size_t ilen, char *floor,
			size_t flen, struct m2m_err *err);
	void *versions_ctx;
};

/*
 * The checks of a verified manifest against the policy: model, version
 * (not below floor; below installed only if named in downgrades; at least
 * min_installed), expiry. REFUSED with the reason.
 */
int upd_policy_check(const struct upd_policy *pol, const struct upd_manifest *m,
		     struct m2m_err *err);

/*
 * Where verified payload bytes go, in order: the download file, an
 * installer's stdin. An error stops the verification with it.
 */
typedef int (*upd_sink_fn)(void *ctx, const void *data, size_t len, struct m2m_err *err);

/*
 * The streaming verifier. Feed it the package's bytes in any chunks, from
 * offset 0: it reads the header and the manifest, verifies the signature
 * (INTEGRITY: not genuine) and the policy (REFUSED) before the first payload
 * byte, then hands payload bytes to sink (may be NULL) while hashing them;
 * more bytes than the manifest's size is INTEGRITY at once.
 */
struct upd_verifier;
int upd_verifier_new(const struct upd_policy *pol, upd_sink_fn sink, void *ctx,
		     struct upd_verifier **out, struct m2m_err *err);
int upd_verifier_feed(struct upd_verifier *v, const void *data, size_t len, struct m2m_err *err);
/* The manifest once its signature and the policy were checked; NULL before. */
const struct upd_manifest *upd_verifier_manifest(const struct upd_verifier *v);
/* The manifest once its signatures were checked, even if the policy then refused it
 * (what a refusal reports: which package); NULL before. */
const struct upd_manifest *upd_verifier_genuine(const struct upd_verifier *v);
/* The signers' subjects (one line each), once verified; "" before. */
const char *upd_verifier_signers(const struct upd_verifier *v);
/* Package bytes fed so far. */
uint64_t upd_verifier_offset(const struct upd_verifier *v);
/* The whole package's size (header, manifest, signature, payload) once upd_verifier_manifest()
 * is known; 0 before. */
uint64_t upd_verifier_size(const struct upd_verifier *v);
/* All of the payload arrived and its SHA-256 is the manifest's: OK; else INTEGRITY (truncated, tampered). */
int upd_verifier_end(struct upd_verifier *v, struct m2m_err *err);
void upd_verifier_free(struct upd_verifier *v);

/* A whole file through the verifier, read in blocks; *m (and signers, if not NULL:
 * upd_verifier_signers) filled if OK; *m also if the package is genuine and the
 * policy refused it (m->name set: zero it before). */
int upd_verify_file(const struct upd_policy *pol, const char *path, upd_sink_fn sink, void *ctx,
		    struct upd_manifest *m, char *signers, size_t slen, struct m2m_err *err);

/*
 * The vendor side: making a package. A signer is a private key as an
 * OpenSSL EVP_PKEY (a file key, or m2m_key_pkey()'s for a TPM or token key:
 * its signatures go to the store), its certificate and the intermediate
 * certificates to carry (PEM files; chain may be NULL).
 */
struct evp_pkey_st;
struct upd_signer {
	struct evp_pkey_st *key;
	const char *cert;
	const char *chain;
};

/*
 * Make the package out: m's size and sha256 are computed here from the
 * payload file (streamed; the rest of m is taken as given and must be a
 * valid manifest), the canonical manifest (upd_manifest_json) signed by each
 * of the n signers (CMS SignedData, detached, SHA-256, one SignerInfo each),
 * then header, manifest, signature and payload written atomically (a temp
 * file beside out, fsync, rename, fsync of the directory). *m is updated with
 * the size and hash on success. CREDENTIAL: a key that did not sign or a
 * certificate that is not its key's; USAGE: an invalid manifest.
 */
int upd_sign(struct upd_manifest *m, const char *payload, const struct upd_signer *signers,
	     size_t n, const char *out, struct m2m_err *err);
/*
 * The same for manifest bytes taken as they are (not parsed: for tests and
 * tools that must make packages a device refuses).
 */
int upd_sign_raw(const void *manifest, size_t mlen, const char *payload,
		 const struct upd_signer *signers, size_t n, const char *out, struct m2m_err *err);

/*
 * An installer's process as the journal records it (install.c starts it,
 * journal.c keeps it in the "installing" record before it runs, a restart
 * waits for it): its process group, and what tells that group from a later
 * one that got the same number (pids are reused) or from another boot.
 */
struct upd_proc {
	int pgid;               /* the group (its leader's pid); 0: none */
	uint64_t start;         /* the leader's start, clock ticks after boot (/proc/PID/stat field 22) */
	char boot[37];          /* /proc/sys/kernel/random/boot_id of the boot it ran in */
	unsigned limit_ms;      /* its time bound, counted from start */
	char service[16];       /* "": the group does the install; "rauc": the group is the
				   client that handed it to RAUC's service, which runs it on its own */
};

/* The journal's source of a package the caller pushed (m2m_update_push_begin). */
#define UPD_PUSH_SOURCE "push"

/*
 * Cancel the update of engine handle u before anything was installed (the
 * LwM2M server's empty Package URI or Package, TS 1.1 Core E.6): the
 * journal goes back to idle (upd_cancel), then a push under way ends and the
 * partial download and its payload are removed (a cut between leaves files
 * the next update overwrites, never a journal that resumes a download that
 * was removed). A pull under way must have been stopped first (its
 * opts.stop, then m2m_update_install returned). USAGE if there is nothing to
 * cancel or it is too late (installing); nothing is changed then.
 */
struct m2m_update;
int upd_engine_cancel(struct m2m_update *u, struct m2m_err *err);

#endif

/* SPDX-License-Identifier: MIT */
/* Internal parts of the VPN module. */
#ifndef M2M_VPN_INT_H
#define M2M_VPN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "m2m/config.h"
#include "m2m/m2m.h"
#include "m2m/vpn.h"
#include "vici/vici.h"

struct der {
	uint8_t *data;
	size_t len;
};

/*
 * load-token's "module" for TPM keys: no OpenSSL engine and no PKCS#11 module
 * of charon's is called so, charon's tpm plugin takes any name.
 */
#define VPN_TPM_MODULE "m2m-tpm-only"

enum vpn_key_kind {
	VPN_KEY_NONE = 0,       /* EAP only */
	VPN_KEY_SOFT,           /* key below, for load-key */
	VPN_KEY_TOKEN,          /* charon signs through its pkcs11 or tpm plugin: load-token */
};

/* Everything charon needs for one profile, decoded and checked by libm2m. */
struct vpn_creds {
	enum vpn_key_kind key_kind;
	char token_handle[132]; /* TOKEN: CKA_ID in hex, or the TPM handle in hex without 0x */
	struct m2m_secret token_pin; /* TOKEN: PIN or TPM auth value, checked by us (may be empty) */
	bool token_has_slot;    /* PKCS11: name the slot, so a same CKA_ID elsewhere is not taken */
	const char *token_module; /* load-token's "module": TPM keys name one nothing else has */
	unsigned long token_slot;
	const char *eap_id;     /* EAP, CERT_EAP: our EAP identity */
	struct m2m_secret eap_secret; /* EAP, CERT_EAP: the password */
	struct der cert;        /* our end-entity certificate (none for EAP) */
	struct der *chain;      /* further certificates shipped with it (PKCS#12) */
	size_t n_chain;
	struct der key;         /* private key, traditional DER; wiped on free */
	const char *key_type;   /* VICI load-key type: "rsa", "ecdsa", "ed25519" */
	struct der *ca;         /* trust anchors for the gateway */
	size_t n_ca;
	char subject[256];      /* of our certificate, for messages */
	time_t not_before, not_after;
	/* filled by loading: charon's names for what it now holds of ours (loaded.c unloads them) */
	char key_id[132];       /* load-key's or load-token's "id", "" if none */
	char shared_id[300];    /* load-shared's "id", "" if none */
};

/*
 * Read the profile's certificate, key and CAs (PEM files or PKCS#12 with a
 * PIN), check that key and certificate belong together and that the
 * certificate is valid now. Errors: CREDENTIAL, CLOCK.
 */
int vpn_creds_load(const struct m2m_vpn_profile *p, struct vpn_creds *c, struct m2m_err *err);
/*
 * What decides the outcome of an "up" whose credentials charon still holds,
 * checked cheaply on every "up": the key store answers (TPM, token), is not
 * locked, and the machine binding still holds. Nothing is signed or tried.
 */
int vpn_creds_check(const struct m2m_vpn_profile *p, struct m2m_err *err);
void vpn_creds_free(struct vpn_creds *c);

/* The state directory (state.c). */
const char *vpn_state_dir(const struct m2m_config *cfg);
/* The profile named, or NULL with NOT_FOUND said (vpn.c). */
const struct m2m_vpn_profile *vpn_find_profile(const struct m2m_vpn *vpn, const char *name,
					       struct m2m_err *err);
/*
 * The profile's SAs as charon lists them into st (down until charon says
 * more), taking the sweep and the registrations the caller needs along in
 * the same round trip (control_log: an initiate comes next) (vpn.c).
 */
int vpn_query_sas(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p, struct m2m_vpn_status *st,
		  int timeout_ms, bool control_log, struct m2m_err *err);
#include "vpn/vpn.h" /* vpn_profile_lock, for the modules above too */
/* Release a profile's lock and remove its file: the profile is no longer configured. */
void vpn_profile_unlock_remove(const struct m2m_config *cfg, const char *profile, int fd);
/* The watch lock of a profile (watch-<p>.lock), taken at once or BUSY. */
int vpn_watch_lock(const struct m2m_config *cfg, const char *profile, int *fd,
		   struct m2m_err *err);
/* True if an m2mvpn-connect watch supervises the profile now. */
bool vpn_watch_running(const struct m2m_config *cfg, const char *profile);
/* The last failed attempt (rc 0: forget it), and reading it into a status. */
struct m2m_vpn_status;
void vpn_last_error_save(const struct m2m_config *cfg, const char *profile, int rc,
			 const char *msg);
void vpn_last_error_load(const struct m2m_config *cfg, struct m2m_vpn_status *st);
/*
 * The gateway's silence on one IKE SA, as watch sees it: saved while it lasts,
 * cleared when the gateway answers; loading it turns an "up" status of that
 * same SA into UNCONFIRMED (last_error: since when, and why), while a watch runs.
 */
void vpn_liveness_save(const struct m2m_config *cfg, const char *profile, unsigned ike_id,
		       time_t since, const char *msg);
void vpn_liveness_clear(const struct m2m_config *cfg, const char *profile);
void vpn_liveness_load(const struct m2m_config *cfg, struct m2m_vpn_status *st);

/* What was last loaded into charon for a profile (see loaded.c). */
uint64_t vpn_profile_digest(const struct m2m_config *cfg, const struct m2m_vpn_profile *p);
void vpn_loaded_save(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		     const struct vpn_creds *c);
/* Written ahead of a load: a record whose digest matches nothing, the last credential ids kept. */
void vpn_loaded_pending(const struct m2m_config *cfg, const struct m2m_vpn_profile *p);

/*
 * renewed.c: a renewed certificate proven on the tunnel. The certificate a
 * renewal replaced waits beside the new one as <cert>.prev until an IKE SA
 * comes up with the new one (m2m.yaml(5), enroll; M2M_CERT_PREV_SUFFIX).
 */
/* a renewal of p's certificate waits for its proof */
bool vpn_cert_unproven(const struct m2m_vpn_profile *p);
/* under the profile's lock, before an up: finish a change of key and certificate a power cut interrupted */
void vpn_rekey_recover(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p);
/* p is up (st): if the SA came up after the certificate was written, the previous one goes */
void vpn_cert_proven(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p,
		     const struct m2m_vpn_status *st);
/* the gateway refused us: the previous certificate back if it is still valid; true if it is */
bool vpn_cert_fall_back(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p);
void vpn_loaded_forget(const struct m2m_config *cfg, const char *profile);
bool vpn_loaded_match(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		      time_t *not_before, time_t *not_after);
/*
 * Take a profile out of charon: its connection (after terminating its SAs
 * when `terminate`), the key and shared secret its record names unless a
 * configured profile's record names them too, and the record. Best effort,
 * each request bounded by timeout_ms; false if something stayed in charon.
 */
struct m2m_vpn;
bool vpn_unload_profile(struct m2m_vpn *vpn, const char *profile, bool terminate, int timeout_ms);
/*
 * Once per handle: remove from charon every connection named m2m-<x> and
 * every credential recorded for a profile <x> that is no longer in the
 * configuration (the m2m- names in charon belong to the configuration).
 */
void vpn_sweep(struct m2m_vpn *vpn, int timeout_ms);
/*
 * The same in two halves, so that its get-conns can go with other requests:
 * the records, then charon's connections from the answer to get-conns.
 * vpn_sweep_records says whether get-conns is needed: not when charon did not
 * answer, nor when this very charon's connections were listed and swept
 * before and nothing was loaded since (the mark vpn_sweep_conns leaves).
 */
bool vpn_sweep_records(struct m2m_vpn *vpn, int timeout_ms);
void vpn_sweep_conns(struct m2m_vpn *vpn, const struct vici_node *resp, int timeout_ms);

/*
 * Fail-closed guard: an nftables table "inet m2m_<profile>" that refuses
 * traffic to the protected prefixes unless it leaves through the tunnel.
 * install puts it in place (gateways looked up now) and records in the state
 * dir what nftables then lists.
 */
int vpn_guard_install(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		      struct m2m_err *err);
/* install/remove, keeping a marker in the state dir (callers use these) */
int vpn_guard_enable(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		     struct m2m_err *err);
int vpn_guard_disable(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		      struct m2m_err *err);
int vpn_guard_remove(const char *profile, struct m2m_err *err);
/*
 * The guard is in place and whole: the table lists exactly what was recorded
 * when it was put in place (every chain and rule), for the tunnel device
 * there is now. Not just that a table of its name exists.
 */
bool vpn_guard_whole(const struct m2m_config *cfg, const struct m2m_vpn_profile *p);
/*
 * The charon this process talks to over VICI (its pid, from the socket): the
 * guard looks for the tunnel device among its descriptors first (vpn_tunnel_if).
 */
void vpn_guard_charon(int pid);
/*
 * The tunnel's interface into out ("" if none: no charon, or kernel ESP, where
 * the guard knows the tunnel by its IPsec policy), guard_tunnel.c.
 */
void vpn_tunnel_if(char *out, size_t len);
/* Put back the recorded rules (no gateway looked up); made anew if the tunnel device changed. */
int vpn_guard_restore(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		      struct m2m_err *err);
/*
 * The watch's own copy of the recorded rules, table "inet m2m_<profile>_hold"
 * owned by n's netlink socket: no other process can change it and `nft flush
 * ruleset` passes it by, while the watch runs; it goes with the watch, the
 * guard itself stays.
 */
struct net_nft;
int vpn_guard_hold(struct net_nft *n, const struct m2m_config *cfg,
		   const struct m2m_vpn_profile *p, struct m2m_err *err);
/*
 * The watch's round: the guard put back if it is not whole (*restored), and
 * the copy in hold (may be NULL) made again if the guard's rules changed
 * since *held (the body it holds; the caller frees it).
 */
int vpn_guard_keep(struct net_nft *hold, const struct m2m_config *cfg,
		   const struct m2m_vpn_profile *p, char **held, bool *restored, struct m2m_err *err);

/*
 * Classify a failed initiate from charon's control-log lines and its final
 * error message. Returns the result code and writes a one-line reason.
 */
struct vpn_attempt_log {
	char **lines;
	size_t n, cap;
};
void vpn_log_add(struct vpn_attempt_log *l, const char *msg);
void vpn_log_free(struct vpn_attempt_log *l);
int vpn_classify(const struct vpn_attempt_log *l, const char *errmsg, const char *gateway,
		 char *reason, size_t reason_len);
/* What the profile adds to a classified reason (the remote_id it names, say). */
void vpn_classify_hint(const struct vpn_attempt_log *l, const struct m2m_vpn_profile *p,
		       char *reason, size_t reason_len);

/* ---- the handle on charon (vpn.c) --------------------------------------- */

/* charon's name of a profile's connection, IKE and CHILD alike */
#define VPN_NAME_PREFIX "m2m-"
/* how late charon may answer a request whose own work is bounded */
#define VPN_ANSWER_SLACK_MS 200

struct m2m_vpn {
	const struct m2m_config *cfg;
	struct vici_conn *vc;
	bool reg_control_log, reg_list_sa;
	bool swept; /* vpn_sweep() ran */
	int charon_pid; /* the charon at the other end of vc (SO_PEERCRED), 0 if unknown */
	bool charon_absent; /* the last connect found no charon (no socket, nobody listening) */
	m2m_log_fn log;
	void *log_ctx;
	volatile const int *cancel;
	uint64_t limit; /* the operation's hard limit (0: none), see vpn_cap() */
};

#define VLOG(vpn, prio, ...)                                                  \
	do {                                                                  \
		if ((vpn)->log)                                               \
			(vpn)->log((vpn)->log_ctx, prio, __VA_ARGS__);        \
	} while (0)

/* msg without its leading "<profile>: ", for a line that names the profile itself */
static inline const char *vpn_unprefixed(const char *profile, const char *msg)
{
	size_t n = strlen(profile);

	return strncmp(msg, profile, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

static inline void vpn_conn_name(const char *profile, char *buf, size_t len)
{
	snprintf(buf, len, VPN_NAME_PREFIX "%s", profile);
}

static inline int vpn_remaining(uint64_t deadline)
{
	uint64_t now = m2m_now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Time limit for one bounded request: what is left, plus a little for the answer. */
static inline int vpn_budget(uint64_t deadline)
{
	return vpn_remaining(deadline) + VPN_ANSWER_SLACK_MS;
}

/*
 * Every command returns within its time limit whatever charon does (answers
 * late, never, or a byte at a time): the public calls set vpn->limit to their
 * deadline, and no connect, read, write or event wait on the handle's
 * connection goes past it. vpn_cap() shortens a timeout_ms (< 0: none) to
 * what is left of it.
 */
static inline int vpn_cap(const struct m2m_vpn *vpn, int timeout_ms)
{
	int left;

	if (!vpn->limit)
		return timeout_ms;
	left = vpn_remaining(vpn->limit);
	return timeout_ms < 0 || timeout_ms > left ? left : timeout_ms;
}

/* Limit the handle to deadline (an outer, earlier limit stays); returns the one to restore. */
static inline uint64_t vpn_limit_push(struct m2m_vpn *vpn, uint64_t deadline)
{
	uint64_t old = vpn->limit;

	if (!old || deadline < old)
		vpn->limit = deadline;
	return old;
}

/* The handle's connection to charon (request.c): made when first needed, dropped when broken. */
int vpn_connect(struct m2m_vpn *vpn, struct m2m_err *err);
void vpn_disconnect(struct m2m_vpn *vpn);
/* A VICI module's result as ours: a stream from charon we cannot read is DAEMON (request.c). */
int vpn_local_rc(int rc, struct m2m_err *err);
/* Connect and register for control-log (or list-sa) at once, its answer taken later (request.c). */
void vpn_register_ahead(struct m2m_vpn *vpn, bool control_log);
/* A request on the handle's connection (made when needed); a broken one is dropped. */
int vpn_request(struct m2m_vpn *vpn, const char *cmd, struct vici_buf *req, struct vici_node **resp,
		vici_event_cb cb, void *ctx, int timeout_ms, struct m2m_err *err);
/*
 * Requests sent together, one round trip (vici_pipeline()): a registration
 * charon confirms is recorded in the handle; any failure drops the connection.
 */
struct vpn_pipe {
	struct m2m_vpn *vpn;
	struct vici_step steps[4];
	size_t n;
};
int vpn_pipeline(struct vpn_pipe *pp, vici_event_cb cb, void *ctx, int timeout_ms,
		 struct m2m_err *err);
/* The answers' trees. */
void vpn_pipe_free(struct vpn_pipe *pp);
/* The same for a command whose answer is only success or errmsg. */
int vpn_simple_cmd(struct m2m_vpn *vpn, const char *cmd, struct vici_buf *req, int timeout_ms,
		   struct m2m_err *err);

/*
 * Make sure charon holds the profile's credentials and connection as the
 * config says (conn.c). If it still holds what we loaded last time and no
 * input changed, nothing is read or sent (*cached = true).
 */
int vpn_load_profile(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p, uint64_t deadline,
		     bool force, bool *cached, struct m2m_err *err);
/*
 * The cached half of it, for a caller that matched the record itself
 * (vpn_loaded_match: nb, na its validity window): the credentials still
 * usable and the clock inside their window.
 */
int vpn_load_cached(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p, uint64_t deadline,
		    time_t nb, time_t na, bool *cached, struct m2m_err *err);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * m2m: IPsec tunnels through strongSwan's charon. A profile from the config
 * becomes a charon connection named "m2m-<profile>" (IKE and CHILD alike);
 * credentials are read by libm2m and handed to charon over VICI, so nothing
 * secret ever sits in a file charon reads or on a command line.
 */
#ifndef M2M_VPN_H
#define M2M_VPN_H

#include <stdbool.h>
#include <stdint.h>

#include "m2m/config.h"
#include "m2m/m2m.h"

#ifdef __cplusplus
extern "C" {
#endif

enum m2m_vpn_state {
	M2M_VPN_STATE_DOWN = 0,
	M2M_VPN_STATE_CONNECTING = 1,
	M2M_VPN_STATE_UP = 2,
	/*
	 * SAs installed, but the gateway has not answered our liveness checks
	 * (DPD, MOBIKE) since last_error_time: no traffic gets through, and the
	 * supervisor is working on it. Only a running watch knows this.
	 */
	M2M_VPN_STATE_UNCONFIRMED = 3,
};

#define M2M_VPN_MAX_VIPS 4

struct m2m_vpn_status {
	char profile[33];
	enum m2m_vpn_state state;
	char ike_state[24];      /* charon's: ESTABLISHED, CONNECTING, ... or "" */
	char child_state[24];    /* INSTALLED, REKEYING, ... or "" */
	char local_host[64];
	char remote_host[64];
	char local_id[128];
	char remote_id[128];
	char vips[M2M_VPN_MAX_VIPS][48];
	unsigned n_vips;
	char ike_proposal[96];   /* e.g. AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256 */
	char esp_proposal[64];
	bool encap;              /* ESP in UDP */
	uint64_t established_s;  /* seconds since the IKE SA came up */
	uint64_t bytes_in, bytes_out, packets_in, packets_out;
	unsigned ike_uniqueid;
	bool guard_active;       /* fail-closed guard installed */
	int last_rc;             /* result of the last failed attempt, 0 if none */
	char last_error[256];    /* its message ("" if none) */
	uint64_t last_error_time; /* unix time of it */
};

struct m2m_vpn;

/* The same type as m2m_log_fn (m2m.h), under its old name. */
typedef m2m_log_fn m2m_vpn_log_fn;

/*
 * A handle on charon at cfg->charon.vici; the connection is made when first
 * needed, so m2m_vpn_down() works (removes the guard) even without charon.
 * cfg must outlive the handle. The first up, down or status on a handle
 * also removes from charon what belongs to a profile cfg no longer has
 * (connections named m2m-<name>, and the key and secret loaded for them).
 */
int m2m_vpn_open(const struct m2m_config *cfg, struct m2m_vpn **out, struct m2m_err *err);
void m2m_vpn_close(struct m2m_vpn *vpn);
/*
 * Make long waits (initiate, terminate) give up as soon as *flag becomes
 * non-zero, e.g. from a SIGTERM handler; they then fail with M2M_ERR_TIMEOUT.
 */
void m2m_vpn_set_cancel(struct m2m_vpn *vpn, volatile const int *flag);
/* Receive charon's log lines of our requests and our own decisions (syslog priorities). */
void m2m_vpn_set_log(struct m2m_vpn *vpn, m2m_log_fn log, void *ctx);

/*
 * Bring a profile up and wait until its CHILD SA is installed, at most
 * timeout_ms (0: the profile's timeout). Succeeds at once if it is already up.
 * On failure any half-open SA of the profile is torn down and the result code
 * says why: TIMEOUT, UNREACHABLE, AUTH_LOCAL, AUTH_REMOTE, CREDENTIAL, CLOCK,
 * PROTOCOL, DAEMON, NOT_FOUND, and from the key store DEVICE and PIN_LOCKOUT;
 * BUSY if another "up" or "down" of the profile holds its lock; FAILURE if
 * the fail-closed guard cannot be put in place. If status is not NULL it is
 * filled on success.
 */
int m2m_vpn_up(struct m2m_vpn *vpn, const char *profile, unsigned timeout_ms,
	       struct m2m_vpn_status *status, struct m2m_err *err);

/*
 * Take a profile down: terminate its SAs and remove its fail-closed guard.
 * An always-on profile's connection, key and EAP secret are also unloaded
 * from charon (as after a failed m2m_vpn_up()), so that charon's own restart
 * policies cannot bring it back; an on-demand one, which has none, stays
 * loaded for a quick next "up". Succeeds if it is already down, and when the
 * gateway did not answer the delete but nothing of the profile is installed
 * any more (a LOG_WARNING line through the log callback says so).
 */
int m2m_vpn_down(struct m2m_vpn *vpn, const char *profile, unsigned timeout_ms,
		 struct m2m_err *err);

/*
 * Take a profile out of charon for good (a wipe, a decommissioning): its SAs
 * ended without waiting for the gateway, its connection, key and EAP secret
 * unloaded whatever its mode, its fail-closed guard lifted. M2M_OK when
 * charon does not run (it holds nothing then); BUSY while a watch keeps the
 * profile up; FAILURE or TIMEOUT when charon did not unload it.
 */
int m2m_vpn_forget(struct m2m_vpn *vpn, const char *profile, unsigned timeout_ms,
		   struct m2m_err *err);

/*
 * Put a fail_closed profile's guard in place now, without charon and without
 * a tunnel: the boot step that holds protected traffic before the network
 * comes up (m2mvpn-connect guard, run before network-pre.target). The guard
 * then stays until m2m_vpn_down(); up and watch take it over as it is.
 * CONFIG for a profile without fail_closed, NOT_FOUND for one the config does
 * not have, FAILURE if nftables refuses or the state dir cannot be written.
 */
int m2m_vpn_guard(struct m2m_vpn *vpn, const char *profile, struct m2m_err *err);

/*
 * Current state of one profile: OK with st filled, also when the profile is
 * down (st->state says so; the tools turn that into DOWN); DAEMON if charon
 * does not answer, st then filled with the state down, the guard and the last
 * failure; NOT_FOUND for a profile the config does not have.
 */
int m2m_vpn_status(struct m2m_vpn *vpn, const char *profile, struct m2m_vpn_status *st,
		   struct m2m_err *err);

/*
 * Always-on supervisor: keep the given profiles (NULL: every always-on
 * profile) up until *stop becomes true (set it from a signal handler; a
 * NULL stop is USAGE).
 * Re-initiates after failures charon gives up on, with a backoff chosen by
 * failure class (network: retry.network; authentication/credential/clock:
 * retry.auth). Reconnects to charon when it restarts. log is called with one
 * line per state change (may be NULL). It is m2m_vpn_watch_open(), a loop of
 * poll() and m2m_vpn_watch_step(), and m2m_vpn_watch_close(); *stop is seen
 * within 250 ms.
 */
int m2m_vpn_watch(const struct m2m_config *cfg, const char *const *profiles,
		  volatile const int *stop, m2m_log_fn log, void *log_ctx,
		  struct m2m_err *err);

/*
 * The same supervisor for an application's own poll loop (libcurl's multi
 * interface, libcoap's io): poll m2m_vpn_watch_fd() for POLLIN along with the
 * application's own fds, at most the *next_ms the last step returned, and
 * call m2m_vpn_watch_step() when it is readable or the time has passed:
 *
 *	m2m_vpn_watch_open(cfg, NULL, log, ctx, &w, &err);
 *	for (;;) {
 *		m2m_vpn_watch_step(w, &next_ms, &err);
 *		poll({ m2m_vpn_watch_fd(w), POLLIN } + own fds, next_ms);
 *	}
 *	m2m_vpn_watch_close(w);
 */
struct m2m_vpn_watch;

/*
 * Take the profiles (NULL or empty: every always-on profile) into the
 * supervisor's care: each one's watch lock (BUSY if another watch has it),
 * and the fail-closed guard of those that have one, in place before any
 * tunnel exists. Talks to charon not at all; the first step starts the work.
 * Errors: NOT_FOUND (a named profile), CONFIG (no always-on profile), BUSY,
 * and the guard's. log (may be NULL) is only ever called from inside open,
 * step and close, on the caller's thread. cfg must outlive the handle.
 *
 * Whatever may wait long (an initiate waiting for its CHILD SA, credentials
 * from a TPM or token, charon's answers, nft) runs on a helper thread of the
 * handle, one job at a time, with every signal blocked; the application sees
 * only the fd. Do not use the handle in a child after fork().
 */
int m2m_vpn_watch_open(const struct m2m_config *cfg, const char *const *profiles,
		       m2m_log_fn log, void *log_ctx, struct m2m_vpn_watch **out,
		       struct m2m_err *err);
/*
 * One fd that becomes readable when a step has something to do: charon sent
 * an event, the helper finished a job or logged, or the next due time came
 * (a timer inside, so polling the fd alone is enough). It stays the same for
 * the handle's life, also when the connection to charon is re-made after a
 * charon restart. Do not read it or close it.
 */
int m2m_vpn_watch_fd(const struct m2m_vpn_watch *w);
/*
 * Do what is due, without waiting: deliver the helper's log lines, read
 * charon's events, and hand the helper its next job (look at a profile and
 * initiate it again after its backoff, reconnect to charon). Returns within
 * about 100 ms (reading a packet charon cut short waits no longer), plus the
 * time the log callback takes. *next_ms: how long the caller may wait before
 * the next step if the fd stays quiet (at most 5000). Failures of tunnels are
 * no error here (they are logged and retried); an error is the handle's own
 * (eventfd, epoll): close it.
 */
int m2m_vpn_watch_step(struct m2m_vpn_watch *w, unsigned *next_ms, struct m2m_err *err);
/*
 * Stop supervising: an attempt in progress is cancelled (close waits for it
 * to give up, normally well under a second), the locks are released.
 * Tunnels and fail-closed guards stay as they are. NULL is a no-op.
 */
void m2m_vpn_watch_close(struct m2m_vpn_watch *w);

/*
 * The plugins charon has loaded (its "stats" reply), as a NULL-terminated
 * array; free each string and the array. DAEMON if charon is not reachable.
 */
int m2m_vpn_charon_plugins(const struct m2m_config *cfg, char ***plugins, struct m2m_err *err);
/* The charon plugins a profile with this auth method needs (NULL-terminated, static). */
const char *const *m2m_vpn_needed_plugins(enum m2m_auth_method m);
/*
 * charon's plugin settings for the profiles' TPM keys (the TCTI) and token
 * keys (the PKCS#11 modules), as a strongswan.d fragment to include inside
 * charon { plugins { } }. *text is malloc()ed, *len its length (len may be
 * NULL). CONFIG if two TPM profiles name different TCTIs: charon has one.
 */
int m2m_vpn_charon_conf(const struct m2m_config *cfg, char **text, size_t *len,
			struct m2m_err *err);

/*
 * The key of a VPN profile's auth section (cert, pkcs12, pkcs11, tpm,
 * machine, cert+eap) as a key-store reference (m2m/keystore.h). The strings
 * point into p. NOT_FOUND for eap (no key).
 */
struct m2m_key_ref;
int m2m_key_ref_from_profile(const struct m2m_vpn_profile *p, struct m2m_key_ref *ref,
			     struct m2m_err *err);

const char *m2m_vpn_state_name(enum m2m_vpn_state s);

#ifdef __cplusplus
}
#endif
#endif

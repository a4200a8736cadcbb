/* SPDX-License-Identifier: MIT */
/*
 * m2m: device management over OMA LwM2M 1.1 (CoAP/DTLS on libcoap). The
 * device registers with the server of the config's dm: section, serves its
 * Read/Write/Execute/Discover/Write-Attributes/Observe requests on objects
 * 0, 1, 3, 4, 6 and 33810 (the project's VPN and certificate object), and
 * keeps the registration alive. The registration is kept in the state
 * directory, so a run from cron updates it instead of registering anew.
 */
#ifndef M2M_DM_H
#define M2M_DM_H

#include <stdbool.h>
#include <stdint.h>

#include "m2m/config.h"
#include "m2m/m2m.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The registration as last known (state_dir/dm-registration.json). */
struct m2m_dm_state {
	bool registered;
	char server[256];
	char endpoint[128];
	char location[128];     /* the server's Location-Path, e.g. "/rd/5a3f" */
	uint64_t registered_at; /* unix time of the last successful Register or Update */
	unsigned lifetime_s;
	char binding[4];        /* "U" or "UQ" */
	uint64_t last_attempt;  /* unix time */
	int last_rc;            /* enum m2m_rc of the last attempt */
	char last_error[384];
};

struct m2m_dm;

/* The same type as m2m_log_fn (m2m.h), under its old name. */
typedef m2m_log_fn m2m_dm_log_fn;

/*
 * Prepare a client for cfg->dm (cfg must outlive it): reads the PSK or
 * checks the certificate files, resolves the server. No packet yet.
 * CONFIG if dm: is not configured.
 */
int m2m_dm_open(const struct m2m_config *cfg, struct m2m_dm **out, struct m2m_err *err);
void m2m_dm_close(struct m2m_dm *dm);
void m2m_dm_set_log(struct m2m_dm *dm, m2m_log_fn log, void *ctx);

/*
 * Register, or, if the saved registration is still alive, Update it with
 * only what changed (re-registering if the server answers 4.04). Waits at
 * most timeout_ms. TIMEOUT, UNREACHABLE, AUTH_LOCAL (DTLS or registration
 * refused), PROTOCOL (an unexpected answer).
 */
int m2m_dm_register(struct m2m_dm *dm, unsigned timeout_ms, struct m2m_err *err);

/*
 * Serve the server's requests for ms milliseconds (0: until *stop), send
 * notifications of observed resources, and Update the registration before
 * its lifetime runs out or when the server changed lifetime or binding.
 * A server out of reach does not end it: the Update is retried with
 * backoff (5 s doubling to 5 min, jittered), an Update answered wrongly
 * leads to a new Register, and notifications due meanwhile are stored (up
 * to 8 per observation, unless the server turned Server resource 6 off) and
 * sent, oldest first, once an Update succeeds. Observations and stored
 * notifications are kept in the state directory across runs
 * (dm-observations.json, 0600) until a new Register or a De-register.
 */
int m2m_dm_serve(struct m2m_dm *dm, unsigned ms, volatile const int *stop,
		 struct m2m_err *err);

/*
 * The same serving, driven by the application's own poll loop (as libcurl's
 * multi interface and libcoap's io are): after m2m_dm_register() (whatever it
 * returned: a registration that failed is tried again), poll m2m_dm_fd() for
 * POLLIN along with the application's own descriptors, at most *next_ms
 * milliseconds, then call m2m_dm_serve_step(), again and again;
 * m2m_dm_serve() is that loop. To stop, stop calling it; then
 * m2m_dm_deregister() or m2m_dm_close() (an Update or a Register under way
 * is dropped).
 *
 * m2m_dm_fd(): one descriptor that polls readable when there is work (a
 * datagram from the server, a retransmission due). It stays the same for
 * the handle's life, also when a DTLS session is set up anew from another
 * port; do not read it or close it. -1 if libcoap was built without epoll:
 * then call the step every *next_ms milliseconds.
 *
 * m2m_dm_serve_step(): does what is due without waiting for the network:
 * answers the datagrams that came, sends due notifications, starts the
 * Update (or the Register, or a retry) when due and takes its answer when it
 * is in; then sets *next_ms to the longest the caller may wait before the
 * next step: about 50 ms while an exchange is under way (or the update
 * engine works); while observations are taken, until the next sample of
 * their values (once a second after pmin) or their pmax; up to a second
 * when idle.
 * Problems with the server are logged and retried, not returned: OK, or
 * USAGE if next_ms is NULL.
 */
int m2m_dm_fd(const struct m2m_dm *dm);
int m2m_dm_serve_step(struct m2m_dm *dm, unsigned *next_ms, struct m2m_err *err);

/*
 * Client-initiated bootstrap with cfg->dm.bootstrap (same security mode as
 * dm:): Bootstrap-Request, then serve the bootstrap server's Delete, Write
 * (Security and Server objects), Discover until its Finish, at most
 * timeout_ms. The result is kept in state_dir/dm-bootstrap.json (0600), and
 * m2m_dm_open() registers with that server from then on.
 */
int m2m_dm_bootstrap(const struct m2m_config *cfg, unsigned timeout_ms, m2m_log_fn log,
		     void *log_ctx, struct m2m_err *err);
/* Whether a bootstrap has finished for cfg (its result is in the state directory). */
int m2m_dm_bootstrapped(const struct m2m_config *cfg);

/* De-register (and forget the saved registration). */
int m2m_dm_deregister(struct m2m_dm *dm, unsigned timeout_ms, struct m2m_err *err);

/*
 * How m2m_dm_run() runs; zero-initialise it, set version to
 * M2M_DM_RUN_OPTS_VERSION and what differs. The version lets the struct grow
 * without a new SONAME (docs/ABI.md).
 */
#define M2M_DM_RUN_OPTS_VERSION 3

/*
 * The device's decommissioning, which libm2m leaves to its caller (such as
 * m2m_wipe() of m2m/wipe.h): reason is for the audit log. M2M_OK or the
 * wipe's class and message.
 */
typedef int (*m2m_dm_wipe_fn)(void *ctx, const char *reason, struct m2m_err *err);

/*
 * A certificate renewal of a VPN profile, which libm2m leaves to its caller
 * (m2m/enroll.h): new_key asks for a new key; it ends within timeout_ms
 * (what is left of a report run's bound; 0: the enroll: section's own).
 * M2M_OK or the class and message; *line (up to len) says what came of it
 * for people. It is called on a thread the client starts for it, with every
 * signal blocked, while the client goes on serving on the caller's thread;
 * the run waits for it before it returns, so it must end soon after *stop
 * is set (pass it to m2m_enroll_renew()): the client sets it when the
 * caller's stop flag is set and when a Wipe was ordered meanwhile (the wipe
 * waits for the renewal, which must not bring up a tunnel for a device
 * being decommissioned).
 */
typedef int (*m2m_dm_renew_fn)(void *ctx, const char *profile, bool new_key, unsigned timeout_ms,
			       volatile const int *stop, char *line, size_t len, struct m2m_err *err);

struct m2m_dm_run_opts {
	unsigned version;         /* M2M_DM_RUN_OPTS_VERSION */
	bool serve;               /* always-on: stay registered until *stop, then De-register */
	unsigned timeout_ms;      /* bound of a report run (0: cfg->dm.timeout_ms) */
	volatile const int *stop; /* set (from a signal handler) to end the run; may be NULL */
	m2m_log_fn log;           /* registration and requests; may be NULL */
	void *log_ctx;
	/*
	 * Version 2: the management server's Wipe (object 33811, resource 11,
	 * when policy.server allows it) is answered 2.04, the client
	 * de-registers, then wipe runs and the run ends with what it returns.
	 * NULL: a Wipe is refused (4.05 Method Not Allowed).
	 */
	m2m_dm_wipe_fn wipe;
	void *wipe_ctx;
	/*
	 * Version 3: the management server's Renew and Renew With New Key
	 * (object 33810, resources 13 and 14, for a profile with an enroll:
	 * section) are answered 2.04 and then done by renew (the caller's,
	 * such as m2m_enroll_renew() or m2m_enroll_rekey(); new_key tells
	 * which) beside the client, which answers meanwhile (5.03 to another
	 * order of 33810); the outcome shows in resource 15, also in the
	 * next run. NULL: they are answered 4.05.
	 */
	m2m_dm_renew_fn renew;
	void *renew_ctx;
};

/*
 * One run of the client, as m2mdm-status --report and --serve do it: takes
 * state_dir/dm.lock (one run at a time: a second one fails with BUSY),
 * waits the jitter (dm.jitter, a report run only), bootstraps
 * if dm.bootstrap is set and no bootstrap has finished, registers or
 * Updates, then serves the queue-mode window (dm.queue_window, within the
 * run's bound; a U binding stopped by *stop De-registers) or, with serve,
 * serves until *stop, a server out of reach being tried again with backoff;
 * once a configuration package ordered through object 5 has ended (committed
 * or rolled back), it goes on under cfg->path as the file is then (loaded
 * again; cfg itself is not changed), with a Register or Update.
 * CONFIG if dm: is not configured; TIMEOUT if stopped during the jitter; the
 * results of the calls above; USAGE if opts->version is not one this library knows.
 */
int m2m_dm_run(const struct m2m_config *cfg, const struct m2m_dm_run_opts *opts,
	       struct m2m_err *err);

/*
 * The saved registration of cfg (no network): OK with st filled; NOT_FOUND
 * with st zeroed if there is none, or with only last_rc and last_error set
 * when the saved file was damaged (it is then set aside, and the reason is
 * what a status shows).
 */
int m2m_dm_state_load(const struct m2m_config *cfg, struct m2m_dm_state *st);

/*
 * An observation lost (no network): one the server made in an earlier run
 * and then ended by resetting a notification of it (RFC 7641 3.6), most
 * likely because it no longer knew it, so what changed since did not reach
 * it. The i-th of them (0, 1, ...) in cfg's state directory: OK with path
 * ("/3/0/13", NUL-terminated, cut to path_len) and at (unix time of the
 * reset); NOT_FOUND past the last. One stays lost until the server observes
 * the path again or the device registers anew.
 */
int m2m_dm_lost_observation(const struct m2m_config *cfg, size_t i, char *path,
			    size_t path_len, uint64_t *at);

/*
 * How m2m_dm_health() runs; zero-initialise it, set version to
 * M2M_DM_HEALTH_OPTS_VERSION and what differs (docs/ABI.md).
 */
#define M2M_DM_HEALTH_OPTS_VERSION 1
struct m2m_dm_health_opts {
	unsigned version;         /* M2M_DM_HEALTH_OPTS_VERSION */
	unsigned timeout_ms;      /* the bound; 0: update.health.timeout (5 min without update:) */
	volatile const int *stop; /* set (from a signal handler) to end it early; may be NULL */
	m2m_log_fn log;           /* each step and its outcome; may be NULL */
	void *log_ctx;
	/*
	 * A configuration update: the configuration cfg replaces (NULL: none). A
	 * profile that is up (under before) is taken down and brought up again
	 * under cfg, so that the new configuration proves itself; if the check
	 * fails, each profile so renewed is brought up again under before.
	 */
	const struct m2m_config *before;
};

/*
 * The health check of an update (update.health in m2m.yaml(5)): does this
 * configuration, or this firmware, reach its servers? Within one bound:
 * every profile of update.health.profiles up (m2m_vpn_up(), in their order,
 * each with what is left of the bound), then, if update.health.dm, one
 * Register or Update with the management server as a --report run makes it
 * (the dm.lock, the bootstrap if one is due), without the run's jitter and
 * queue window. Without an update: section: no profiles, and the
 * registration if there is a dm: section.
 *
 * It leaves the device as it found it: an on-demand profile that was down
 * and was brought up only for the check is taken down again afterwards
 * (pass or fail); a profile already up, or always-on, stays up. The
 * registration stays (a later report run Updates it).
 *
 * While another client holds dm.lock (an always-on m2mdm-status --serve),
 * that client's registration is the proof: the check waits, within the
 * bound, until its saved registration (m2m_dm_state_load()) is alive and its
 * last attempt succeeded.
 *
 * OK: healthy. Otherwise the failing step's code with the message
 * "health: profile NAME: why" or "health: registration: why" (m2m_vpn_up()'s
 * and m2m_dm_register()'s codes: UNREACHABLE, AUTH_LOCAL, DAEMON, ...);
 * TIMEOUT when the bound runs out or *stop is set; USAGE if opts->version is
 * not one this library knows. Taking a profile down again after the verdict
 * is not counted in the bound (at most 2 s each), nor, after a failed check
 * with before set, bringing the profiles it renewed up again under before
 * (at most 30 s for them all, cut short by *stop).
 */
int m2m_dm_health(const struct m2m_config *cfg, const struct m2m_dm_health_opts *opts,
		  struct m2m_err *err);

#ifdef __cplusplus
}
#endif
#endif

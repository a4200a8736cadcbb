/* SPDX-License-Identifier: MIT */
/*
 * m2m: public base header. Every tool of the family and every application using
 * libm2m share one result code enum; a tool's exit status is that code.
 */
#ifndef M2M_M2M_H
#define M2M_M2M_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define M2M_VERSION_MAJOR 0
#define M2M_VERSION_MINOR 1
#define M2M_VERSION_PATCH 0
#define M2M_VERSION "0.1.0"

/* Where the tools keep their state (config: state_dir), PIN markers included. */
#define M2M_STATE_DEFAULT_DIR "/var/lib/m2m"

/*
 * Result codes, also the exit status of every m2m tool.
 * NEVER reorder or renumber: scripts depend on these values. Append only.
 * Documented once in man/exit-codes.roff, which m2m-exit-codes(7) and every
 * tool's page include.
 */
enum m2m_rc {
	M2M_OK = 0,               /* success */
	M2M_ERR_FAILURE = 1,      /* internal or otherwise unclassified failure */
	M2M_ERR_USAGE = 2,        /* bad command line */
	M2M_ERR_CONFIG = 3,       /* configuration file missing, unsafe or invalid */
	M2M_ERR_DAEMON = 4,       /* charon (or another local daemon) not reachable */
	M2M_ERR_TIMEOUT = 5,      /* did not complete within the time limit */
	M2M_ERR_UNREACHABLE = 6,  /* the gateway/server did not answer at all */
	M2M_ERR_AUTH_LOCAL = 7,   /* the peer rejected our authentication */
	M2M_ERR_AUTH_REMOTE = 8,  /* we rejected the peer's authentication */
	M2M_ERR_CREDENTIAL = 9,   /* key, certificate, PIN or token problem on our side */
	M2M_ERR_CLOCK = 10,       /* a certificate is not yet valid or expired */
	M2M_ERR_BUSY = 11,        /* another instance holds the lock */
	M2M_ERR_PROTOCOL = 12,    /* negotiation failed: no proposal chosen, TS unacceptable */
	M2M_ERR_PIN_LOCKOUT = 13, /* the token has too few PIN retries left: not tried */
	M2M_ERR_NOT_FOUND = 14,   /* the named profile, object or file does not exist */
	M2M_ERR_DOWN = 15,        /* status: the tunnel or registration is not up */
	M2M_ERR_DEVICE = 16,      /* key store device (TPM, token, PKCS#11 module) absent or unreachable */
	M2M_ERR_INTEGRITY = 17,   /* an update package's signature, signer or hash is wrong */
	M2M_ERR_REFUSED = 18,     /* a genuine package that this device must not install */
	M2M_ERR_STORAGE = 19,     /* not enough space for a download or an install */
	M2M_ERR_QUARANTINED = 20, /* a security policy put the device in quarantine */
	M2M_RC_COUNT_
};

/* Short stable identifier of a code, e.g. "auth-local"; used in --json output. */
const char *m2m_rc_name(int rc);
/* One line description of a code, for people. */
const char *m2m_rc_describe(int rc);

/*
 * The error convention: a library call returns an enum m2m_rc and, on failure,
 * fills an m2m_err with the code and a one-line "what: why" message. The
 * library never prints to stdout and never exits.
 */
struct m2m_err {
	int rc;
	char msg[384];
};

/* Set err (may be NULL) and return rc; msg is printf-formatted. */
int m2m_err_set(struct m2m_err *err, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix the existing message with "what: ". */
int m2m_err_prefix(struct m2m_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void m2m_err_clear(struct m2m_err *err);

const char *m2m_version(void);

/*
 * The library's one log callback: long-running calls (up, watch, register,
 * serve) report what they do and decide, one line per call, with a syslog
 * priority (LOG_ERR .. LOG_DEBUG). The library writes no log by itself.
 */
typedef void (*m2m_log_fn)(void *ctx, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Where a secret (PIN, password) comes from. Never from the command line.
 * Used by the configuration (m2m/config.h) and the key stores
 * (m2m/keystore.h) alike.
 */
enum m2m_secret_source {
	M2M_SECRET_NONE = 0,
	M2M_SECRET_FILE,       /* a file readable only by its owner */
	M2M_SECRET_FD,         /* an inherited file descriptor */
	M2M_SECRET_CREDENTIAL, /* systemd credential: $CREDENTIALS_DIRECTORY/<name> */
	M2M_SECRET_PROMPT,     /* ask a person, through the prompt set by m2m_set_prompt() */
};

struct m2m_secret_ref {
	enum m2m_secret_source source;
	char *path; /* FILE: path; CREDENTIAL: credential name */
	int fd;     /* FD */
};

/* Retry delays: min, doubling up to max (each randomized to 75..100 %). */
struct m2m_backoff {
	unsigned min_ms; /* first delay */
	unsigned max_ms; /* cap */
};

/*
 * Where a secret whose source is the prompt (pin: {prompt: true}) comes from. The
 * library never opens a terminal itself: an application that wants to ask a
 * person sets a prompt, which fills buf (size bytes, in locked memory; NUL-
 * terminated, at most size - 1 characters) with the secret named by what (e.g.
 * "PIN of token dev") and returns M2M_OK, or returns an error code with err
 * filled (M2M_ERR_CREDENTIAL: refused or cancelled). Without one, such a secret
 * is M2M_ERR_CREDENTIAL. The m2m tools ask on /dev/tty, and only when stdin is a
 * terminal. Set it once, before other calls (process-wide, not per thread).
 */
typedef int (*m2m_prompt_fn)(void *ctx, const char *what, char *buf, size_t size,
			     struct m2m_err *err);
void m2m_set_prompt(m2m_prompt_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif

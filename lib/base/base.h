/* SPDX-License-Identifier: MIT */
/* Internal base helpers of libm2m: time, files, locks, backoff, secrets. */
#ifndef M2M_BASE_H
#define M2M_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m2m/m2m.h"

/* Monotonic clock in milliseconds. */
uint64_t m2m_now_ms(void);
/* The wall clock in unix milliseconds (CLOCK_REALTIME): for times kept across runs. */
int64_t m2m_unix_ms(void);
/* Sleep for ms, returning early (false) if *stop becomes true. */
bool m2m_sleep_ms(unsigned ms, volatile const int *stop);

/* Create dir (and parents) with mode 0700 if missing. */
int m2m_mkdir_private(const char *dir, struct m2m_err *err);
/*
 * Replace path atomically with data: write a temp file in the same directory
 * with the given mode, fsync it, rename it over path, fsync the directory.
 * STORAGE if the disk or quota is full, FAILURE for any other error.
 */
int m2m_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
		     struct m2m_err *err);
/*
 * Destroy a file (destroy.c): unlinked, then its blocks overwritten through
 * the descriptor still open, flushed. remove (may be NULL) unlinks it instead
 * (a key store's own removal). A symbolic link is not followed: the link goes
 * and its target, left, is a FAILURE that names it; a file with other hard
 * links is only unlinked. NOT_FOUND if it is not there. On flash storage
 * copies of its blocks may remain (wear levelling).
 */
int m2m_destroy_file(const char *path, int (*remove)(const char *path, struct m2m_err *err),
		     struct m2m_err *err);
/*
 * rename(from, to), durable, and what to held destroyed as m2m_destroy_file
 * does (overwritten through a descriptor opened before, once no other name
 * holds it): a key file replaced by another.
 */
int m2m_destroy_replaced(const char *from, const char *to, struct m2m_err *err);
/* The directory that holds path flushed (a rename or unlink in it survives a power cut); 0 or -1. */
int m2m_sync_dir_of(const char *path);
/* rename(from, to) in one directory, and the directory flushed: after a power cut, to is one or the other. */
int m2m_rename_durable(const char *from, const char *to, struct m2m_err *err);
/* Read all of fd (at most max bytes, else an error naming name); *out is NUL-terminated. */
int m2m_read_fd(int fd, const char *name, size_t max, char **out, size_t *len,
		struct m2m_err *err);
/* Read a whole (small) file; *out is NUL-terminated; max bytes. */
int m2m_read_file(const char *path, size_t max, char **out, size_t *len, struct m2m_err *err);

/*
 * Take an exclusive flock on path (created 0600), waiting at most wait_ms
 * (0: try once). Returns the fd in *fd; M2M_ERR_BUSY if held elsewhere.
 */
int m2m_lock(const char *path, unsigned wait_ms, int *fd, struct m2m_err *err);
void m2m_unlock(int fd);
/*
 * Who runs us, for an audit record: "uid N", and under sudo as root also the
 * user who ran sudo ("uid 0 (sudo from uid 1000 alice)", from SUDO_UID and
 * SUDO_USER; a value that is not a plain number or name is left out).
 */
void m2m_who(char *out, size_t len);

/*
 * Exponential backoff with jitter: the n-th delay (n from 0) is
 * min * 2^n capped at max, then randomized to [75 %, 100 %] of it so a fleet
 * does not retry in lockstep.
 */
unsigned m2m_backoff_ms(const struct m2m_backoff *b, unsigned n);
/* This boot's id (/proc/sys/kernel/random/boot_id, 36 characters); false (and "") if unknown. */
bool m2m_boot_id(char out[37]);
/*
 * /proc/PID/stat of a live process: its state letter, process group and start
 * (clock ticks after boot); each out pointer may be NULL. False if it is gone.
 */
bool m2m_proc_stat(int pid, char *state, int *pgrp, uint64_t *start);

struct addrinfo;
/*
 * getaddrinfo(host, port, hints) waited for at most timeout_ms, or until *stop
 * (may be NULL; looked at every 100 ms): a silent name server cannot hold the
 * caller past its limit. *out for freeaddrinfo(). UNREACHABLE if the name
 * does not resolve or not in time, TIMEOUT if stopped.
 */
int m2m_resolve(const char *host, const char *port, const struct addrinfo *hints,
		unsigned timeout_ms, volatile const int *stop, struct addrinfo **out,
		struct m2m_err *err);
/*
 * A lookup given up on runs on until the resolver gives up: at most this
 * many run at once in a process (a lookup beyond waits for one to end,
 * within its limit). How many run now:
 */
#define M2M_RESOLVE_MAX_PENDING 4
unsigned m2m_resolve_pending(void);
/*
 * Wait for events on fd until end_ms (m2m_now_ms() clock) or *stop (may be
 * NULL; looked at every 100 ms): 1 ready (or an error the next call says),
 * 0 out of time or stopped.
 */
int m2m_wait_fd(int fd, short events, uint64_t end_ms, volatile const int *stop);
/*
 * A connection to the first of res's addresses that takes one, non-blocking,
 * within end_ms or until *stop: the socket (non-blocking, close-on-exec), or
 * -1 with *why 0 (out of time or stopped) or the errno of the last try.
 */
int m2m_connect_any(const struct addrinfo *res, uint64_t end_ms, volatile const int *stop, int *why);
/* The limit of a lookup whose caller has none of its own: glibc's two tries of one server. */
#define M2M_RESOLVE_MS 10000

/* t (unix seconds) as UTC "2026-12-07T09:30:00Z" into out; false (out as it was) if it cannot be. */
bool m2m_time_utc(int64_t t, char *out, size_t len);

/* Uniform random number in [0, n). */
uint32_t m2m_random_below(uint32_t n);

/* The longest duration an option or a config field takes: 24 h. */
#define M2M_MAX_DURATION_MS (24u * 3600u * 1000u)
/*
 * A duration, the one grammar of the command line (--timeout) and of
 * m2m.yaml: a number, decimals allowed ("20", "2.5", ".5"), then a unit ms, s,
 * m or h (none: seconds), nothing else (no sign, space or exponent); at most
 * M2M_MAX_DURATION_MS, rounded to the nearest ms. NULL, or why not: "not a
 * number", "unknown unit", "longer than 24h".
 */
const char *m2m_parse_duration(const char *s, unsigned *ms);

/* Lower-case hex of len bytes into out, cut to fit outlen, always terminated. */
void m2m_hex(const uint8_t *p, size_t len, char *out, size_t outlen);

/*
 * At most n bytes of src (up to its NUL) into dst (len bytes, always
 * NUL-terminated) as printable ASCII: anything else (a control character, an
 * escape, a byte of 0x80 or more) becomes '?', so text from outside cannot
 * drive a terminal or break a JSON writer's UTF-8. dst may be src. Returns dst.
 */
char *m2m_printable(char *dst, size_t len, const char *src, size_t n);

/*
 * A string built piece by piece (nftables scripts, records): s is NULL or
 * NUL-terminated; after an allocation fails, oom is set and every further
 * piece is dropped, so a caller checks once at the end. free(b.s).
 */
struct m2m_sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};
void m2m_sbuf_printf(struct m2m_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hex (even length, at most max bytes) into out; false if it is not that. */
bool m2m_unhex(const char *s, uint8_t *out, size_t max, size_t *len);

/*
 * A secret (PIN, passphrase) in locked memory. Read from the source described
 * by ref: a file only its owner can read, an inherited fd, a systemd
 * credential, or the terminal (only if stdin is a terminal). Never argv.
 */
struct m2m_secret {
	char *buf;
	size_t len;
};
/*
 * A file holding a secret or a private key must be a regular file that only
 * its owner (root or us) can read: M2M_ERR_CREDENTIAL otherwise.
 */
int m2m_check_private(int fd, const char *path, const char *what, struct m2m_err *err);
/* Why s is not a systemd credential name (a file name in $CREDENTIALS_DIRECTORY), or NULL. */
const char *m2m_credential_name_invalid(const char *s);
/*
 * Whether a TCTI string is one we let tpm2-tss load: device (a /dev/tpm node
 * only), tabrmd, mssim or swtpm. tpm2-tss turns it into a library to load and
 * a device to open, as root: nothing else from a config, a key file or argv.
 */
bool m2m_tcti_allowed(const char *tcti);
int m2m_secret_read(const struct m2m_secret_ref *ref, const char *what,
		    struct m2m_secret *out, struct m2m_err *err);
void m2m_secret_wipe(struct m2m_secret *s);

#endif

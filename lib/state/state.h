/* SPDX-License-Identifier: MIT */
/*
 * The files the tools keep between runs, in one place: a private state directory,
 * its locks, whole files replaced atomically and read back with validation, and
 * append-only journals. Every write that matters survives a power cut: a reader
 * sees the old content or the new, never a mix, and a journal loses at most the
 * record being written when the power went.
 *
 * lib/update's install journal and lib/policy's audit log are journals; the
 * registration, the observations and the loaded-connection records are files.
 */
#ifndef M2M_STATE_H
#define M2M_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "m2m/m2m.h"

/* An open state directory; every name below is a plain file name inside it. */
struct m2m_state {
	int dirfd;
	char path[PATH_MAX];
};

/*
 * Open (create with mode 0700, parents 0755) the state directory dir. It is
 * refused (M2M_ERR_CONFIG) if it is not a directory or if another user than us
 * or root owns it or may write to it: state steers what the tools do next.
 */
int m2m_state_open(struct m2m_state *st, const char *dir, struct m2m_err *err);
/*
 * The same for a reader that has nothing to do if there is no state yet (a
 * status): the directory is not created, M2M_ERR_NOT_FOUND if it does not exist.
 */
int m2m_state_open_existing(struct m2m_state *st, const char *dir, struct m2m_err *err);
void m2m_state_close(struct m2m_state *st);

/*
 * An exclusive lock named name (a file, mode 0600), waited for at most wait_ms
 * (0: try once); M2M_ERR_BUSY if another process holds it. Released by
 * m2m_state_unlock or when the process ends, however it ends.
 */
int m2m_state_lock(const struct m2m_state *st, const char *name, unsigned wait_ms, int *fd,
		   struct m2m_err *err);
void m2m_state_unlock(int fd);
/*
 * Release a lock taken with m2m_state_lock and remove its file, for a lock
 * whose subject is gone: a process that opened the file before and waits for
 * it sees it removed once it gets it and takes the lock afresh.
 */
void m2m_state_unlock_remove(const struct m2m_state *st, const char *name, int fd);

/*
 * Replace name with data, mode 0600: written to a temporary file, flushed to the
 * disk, renamed over name, and the directory flushed, so that after a power cut
 * name holds either the old or the new content.
 */
int m2m_state_write(const struct m2m_state *st, const char *name, const void *data, size_t len,
		    struct m2m_err *err);

/*
 * The class of a failed write, create, fsync or rename by its errno: a full
 * disk or quota (ENOSPC, EDQUOT) is M2M_ERR_STORAGE, so that a caller can
 * tell it from a broken one (M2M_ERR_FAILURE). Every write in lib/state
 * reports its errors so.
 */
int m2m_state_errno_rc(int e);

/*
 * What a reader accepts as name's content; M2M_OK or an error whose message
 * says what is wrong with it.
 */
typedef int (*m2m_state_check_fn)(const char *buf, size_t len, void *ctx, struct m2m_err *err);

/*
 * Read name (at most max bytes; *out NUL-terminated, the caller frees it).
 * M2M_ERR_NOT_FOUND if it does not exist. If check refuses the content, or it
 * is larger than max, the file is moved aside to name.bad (one kept, for a
 * person to look at), so that the next run starts clean instead of failing on
 * it forever, and the error says so.
 */
int m2m_state_read(const struct m2m_state *st, const char *name, size_t max,
		   m2m_state_check_fn check, void *ctx, char **out, size_t *len,
		   struct m2m_err *err);

/* Whether name exists: for a marker whose being there is all it says. */
bool m2m_state_exists(const struct m2m_state *st, const char *name);

/* Remove name (no error if it does not exist); the removal is flushed to the disk. */
int m2m_state_remove(const struct m2m_state *st, const char *name, struct m2m_err *err);

/*
 * An append-only journal: one record per line, "<crc32> <record>\n", with the
 * CRC-32 (IEEE) of the record in 8 hex digits, so a person can read it and a
 * program can tell a whole record from a torn one. A record is text without a
 * newline or a NUL (JSON is). Each record is written with one write() and
 * flushed to the disk before append returns.
 *
 * After a power cut only the last line can be torn (no newline, or a CRC that
 * does not match): opening the journal for appending cuts it off, and replay
 * ignores it. A damaged line followed by whole ones is not a power cut: replay
 * and open refuse the journal (M2M_ERR_FAILURE) rather than skip a record.
 */
struct m2m_journal {
	int fd;
	size_t size;     /* bytes in the file, all whole records */
	size_t max;      /* the file never grows past this */
	unsigned records;
};

/* The longest record a journal takes. */
#define M2M_JOURNAL_RECORD_MAX 4096

/* Open (create) name for appending, at most max bytes in all; cuts a torn last record. */
int m2m_journal_open(const struct m2m_state *st, const char *name, size_t max,
		     struct m2m_journal *j, struct m2m_err *err);
/* Append one record; M2M_ERR_FAILURE if it would make the journal larger than its max. */
int m2m_journal_append(struct m2m_journal *j, const char *rec, size_t len, struct m2m_err *err);
void m2m_journal_close(struct m2m_journal *j);

/*
 * Call fn for each whole record of name in order (rec NUL-terminated, without
 * its CRC and newline); a non-zero return of fn stops the replay and is
 * returned. A journal that does not exist has no records (M2M_OK); one larger
 * than max is refused.
 */
typedef int (*m2m_journal_fn)(const char *rec, size_t len, void *ctx);
int m2m_journal_replay(const struct m2m_state *st, const char *name, size_t max, m2m_journal_fn fn,
		       void *ctx, struct m2m_err *err);

/*
 * The parser under replay and open, on a journal's bytes in memory (path names it
 * in errors): fn for each whole record; *whole is the length of the whole records,
 * *count their number. Only the last line may be torn; a bad line before a good
 * one is damage (M2M_ERR_FAILURE).
 */
int m2m_journal_walk(const char *path, char *buf, size_t len, m2m_journal_fn fn, void *ctx,
		     size_t *whole, unsigned *count, struct m2m_err *err);

/* CRC-32 (IEEE 802.3, as zlib's crc32) of len bytes. */
unsigned long m2m_crc32(const void *data, size_t len);

/*
 * Security events that the policies count (m2m.yaml(5) policy.counters;
 * events.c): "UNIXTIME.MMM KIND" appended to dir's security-events (0600),
 * at most 192 KiB: past it, written anew with each kind's newest
 * M2M_EVENTS_KIND_KEEP events (at most 32 KiB of each, for the four kinds
 * with the newest events), so one kind's flood leaves the others' events.
 * KIND: "vpn-auth" (a tunnel's authentication failed, either side),
 * "update-integrity" (an update package or the bundle in it failed its
 * signature or hash), "pin" (a key store refused a PIN or a TPM an auth
 * value). M2M_OK or why not (the callers go on: an event is never worth a
 * failure).
 */
#define M2M_EVENTS_NAME "security-events"
/* the newest events of a kind that are always kept: policy.counters' largest threshold */
#define M2M_EVENTS_KIND_KEEP 1000
/*
 * What a compaction keeps of the lines in buf (len bytes, each line ended by
 * a newline), in place: of each kind its newest M2M_EVENTS_KIND_KEEP events in
 * at most 32 KiB, for the four kinds with the newest events; a line that is no
 * event (or longer than one) goes. The kept lines, in their order, are moved
 * to buf's end: buf + the return value up to buf + len.
 */
size_t m2m_state_events_keep(char *buf, size_t len);
int m2m_state_event(const char *dir, const char *kind, struct m2m_err *err);
/* Events of kind at or after since_ms (unix milliseconds) in dir's security-events; 0 if none. */
unsigned m2m_state_events_since(const char *dir, const char *kind, int64_t since_ms);
/* The newest time (ms since 1970) of any event there, as believed above; 0 if none. */
int64_t m2m_state_events_newest(const char *dir);

#endif

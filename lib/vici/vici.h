/* SPDX-License-Identifier: MIT */
/*
 * VICI: strongSwan's Versatile IKE Control Interface, spoken directly (Debian
 * ships no libvici header). Internal to libm2m.
 *
 * Wire format: u32 BE length of what follows, then u8 packet type, for named
 * types u8 name length + name, then the message: a sequence of elements
 *   1 SECTION_START u8 len + name      2 SECTION_END
 *   3 KEY_VALUE u8 len + name, u16 BE len + value
 *   4 LIST_START u8 len + name         5 LIST_ITEM u16 BE len + value
 *   6 LIST_END
 * A packet is at most VICI_MAX_PACKET bytes. The decoder trusts nothing.
 */
#ifndef M2M_VICI_H
#define M2M_VICI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m2m/m2m.h"

#define VICI_MAX_PACKET (512 * 1024)
#define VICI_MAX_DEPTH 32

enum vici_packet_type {
	VICI_CMD_REQUEST = 0,
	VICI_CMD_RESPONSE = 1,
	VICI_CMD_UNKNOWN = 2,
	VICI_EVENT_REGISTER = 3,
	VICI_EVENT_UNREGISTER = 4,
	VICI_EVENT_CONFIRM = 5,
	VICI_EVENT_UNKNOWN = 6,
	VICI_EVENT = 7,
};

enum vici_element {
	VICI_SECTION_START = 1,
	VICI_SECTION_END = 2,
	VICI_KEY_VALUE = 3,
	VICI_LIST_START = 4,
	VICI_LIST_ITEM = 5,
	VICI_LIST_END = 6,
};

/* ---- building a message ------------------------------------------------ */

/*
 * A growing message body. Errors (name > 255, value > 65535, unbalanced
 * sections, out of memory, too large) are sticky in ->error and reported by
 * vici_buf_check(); callers may build a whole message and check once.
 */
struct vici_buf {
	uint8_t *data;
	size_t len, cap;
	int depth;      /* open sections */
	bool in_list;
	const char *error; /* static string, NULL if fine */
};

void vici_buf_init(struct vici_buf *b);
void vici_buf_free(struct vici_buf *b); /* wipes the bytes: may hold secrets */
void vici_add_kv(struct vici_buf *b, const char *key, const void *val, size_t len);
void vici_add_kvs(struct vici_buf *b, const char *key, const char *val);
void vici_add_kvf(struct vici_buf *b, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vici_begin_section(struct vici_buf *b, const char *name);
void vici_end_section(struct vici_buf *b);
void vici_begin_list(struct vici_buf *b, const char *name);
void vici_add_item(struct vici_buf *b, const void *val, size_t len);
void vici_add_items(struct vici_buf *b, const char *val);
void vici_end_list(struct vici_buf *b);
/* 0 if the message is complete and well formed, else M2M_ERR_FAILURE + err. */
int vici_buf_check(const struct vici_buf *b, struct m2m_err *err);

/* ---- a decoded message --------------------------------------------------- */

enum vici_node_type { VICI_NODE_SECTION, VICI_NODE_KV, VICI_NODE_LIST };

/*
 * A decoded message is a tree. The root is an unnamed section. A section's
 * children and a list's items are linked through ->next in wire order. A KV's
 * and a list item's value is stored NUL-terminated (value[vlen] == 0) so it
 * may be used as a string; vlen is the wire length (values may hold NULs).
 * List items are VICI_NODE_KV nodes with name NULL.
 */
struct vici_node {
	enum vici_node_type type;
	char *name;
	char *value;
	size_t vlen;
	struct vici_node *child; /* first child (section) or first item (list) */
	struct vici_node *next;
};

/*
 * Decode a message body (the part after the packet type and name). Returns
 * M2M_OK and a tree (free with vici_node_free), or M2M_ERR_PROTOCOL with a
 * message saying what is malformed and at which offset. Never reads out of
 * bounds; nesting deeper than VICI_MAX_DEPTH is an error.
 */
int vici_decode(const uint8_t *msg, size_t len, struct vici_node **out,
		struct m2m_err *err);
void vici_node_free(struct vici_node *n);

/* Child of a section by dotted path ("child-sas.net-1.state"); NULL if none. */
const struct vici_node *vici_find(const struct vici_node *sec, const char *path);
/* Its value as a string if it is a KV, else NULL. */
const char *vici_find_str(const struct vici_node *sec, const char *path);
/* Convenience: true if the KV at path equals "yes". */
bool vici_find_yes(const struct vici_node *sec, const char *path);

/* ---- packets ------------------------------------------------------------- */

/*
 * Split a packet payload (after the u32 length) into type, name and body.
 * Validates the type and the name length against len. name points into pkt
 * and is not NUL-terminated: use name_len.
 */
int vici_packet_split(const uint8_t *pkt, size_t len, int *type, const char **name,
		      size_t *name_len, const uint8_t **body, size_t *body_len,
		      struct m2m_err *err);

/* ---- the client ---------------------------------------------------------- */

struct vici_conn;

/*
 * Connect to charon. uri is "unix:///path" or a plain absolute path. Errors
 * are M2M_ERR_DAEMON with a message that tells "not running" (ECONNREFUSED,
 * ENOENT) apart from "wrong socket" (not a socket, EACCES).
 */
int vici_connect(struct vici_conn **out, const char *uri, struct m2m_err *err);
/*
 * The same within timeout_ms (< 0: no limit; vici_connect() is that): a
 * charon whose listen queue is full is asked again until then, and then it is
 * M2M_ERR_TIMEOUT. *absent (if not NULL) is set when charon is known not to
 * run (no socket, or a socket nobody listens on), and only then: a socket
 * we may not use or that is not a socket says nothing of charon.
 */
int vici_connect_within(struct vici_conn **out, const char *uri, int timeout_ms, bool *absent,
			struct m2m_err *err);
void vici_close(struct vici_conn *c);
int vici_fd(const struct vici_conn *c);
/*
 * Whether bytes of a packet were read ahead and wait in the connection's own
 * buffer: a caller that polls vici_fd() must look here first, poll() does not
 * see them.
 */
bool vici_pending(const struct vici_conn *c);
/*
 * Whether the stream can no longer be trusted (a packet cut off by a time
 * limit, a bad length, EOF): every later call fails; a caller that keeps the
 * connection (an event stream) reconnects.
 */
bool vici_broken(const struct vici_conn *c);
/*
 * While *flag is non-zero (set it from a signal handler), every wait of this
 * connection gives up at once, as if its time limit had passed.
 */
void vici_set_cancel(struct vici_conn *c, volatile const int *flag);

/* Called for every event packet that arrives while waiting; msg is the body. */
typedef void (*vici_event_cb)(void *ctx, const char *event, const struct vici_node *msg);

/*
 * Register for / unregister from a named event. Waits up to timeout_ms for
 * EVENT_CONFIRM; EVENT_UNKNOWN is M2M_ERR_PROTOCOL.
 */
int vici_register(struct vici_conn *c, const char *event, int timeout_ms,
		  struct m2m_err *err);
int vici_unregister(struct vici_conn *c, const char *event, int timeout_ms,
		    struct m2m_err *err);
/*
 * Register for an event now and take charon's answer with the next exchange
 * on this connection (a refusal is that exchange's error): charon works on it
 * while the caller does something else. False if nothing was sent (answers
 * still owed for requests given up on, a broken connection, a write that did
 * not go out within timeout_ms): register as usual then.
 */
bool vici_register_ahead(struct vici_conn *c, const char *event, int timeout_ms);

/*
 * Send command cmd with body req (NULL: empty message) and wait up to
 * timeout_ms (< 0: no limit) for the CMD_RESPONSE. Events that arrive
 * meanwhile go to cb (may be NULL). On success *resp holds the decoded
 * response (caller frees). Errors: M2M_ERR_TIMEOUT, M2M_ERR_DAEMON (connection
 * lost), M2M_ERR_PROTOCOL (CMD_UNKNOWN, malformed, oversized). The timeout
 * covers the whole exchange, not each read.
 */
int vici_request(struct vici_conn *c, const char *cmd, const struct vici_buf *req,
		 struct vici_node **resp, vici_event_cb cb, void *ctx, int timeout_ms,
		 struct m2m_err *err);

/*
 * Several requests at once: charon handles a connection's packets strictly
 * one after another and answers each in turn, so they go out in one write
 * and their answers are read in order: one round trip instead of n (each
 * costs charon a few thread hand-offs). A step is a command (type
 * VICI_CMD_REQUEST, req its body or NULL; its decoded answer in resp, which
 * the caller frees, also after a later step failed) or an event
 * (un)registration. Events that arrive meanwhile go to cb. The first step
 * that fails ends the call with its error, as vici_request() or
 * vici_register() would give it; the answers still owed are dropped when they
 * come. timeout_ms covers the whole exchange. At most 8 steps.
 */
struct vici_step {
	int type; /* VICI_CMD_REQUEST, VICI_EVENT_REGISTER or VICI_EVENT_UNREGISTER */
	const char *name;
	const struct vici_buf *req;
	struct vici_node *resp;
};
int vici_pipeline(struct vici_conn *c, struct vici_step *steps, size_t n, vici_event_cb cb,
		  void *ctx, int timeout_ms, struct m2m_err *err);

/*
 * From inside an event callback of vici_request() or vici_pipeline(): end
 * that wait once the callback returns, as if the answer had come, when the
 * event already says what the answer would (charon logs "CHILD_SA ...
 * established" a thread hand-off or two before it answers the initiate). The
 * call returns M2M_OK with no response (resp NULL) for the step waited on and
 * the steps after it; their answers are dropped when they come, so the
 * connection stays usable.
 */
void vici_end_wait(struct vici_conn *c);

/*
 * Wait up to timeout_ms for one event and deliver it to cb. Returns M2M_OK
 * after one event, M2M_ERR_TIMEOUT if none came, M2M_ERR_DAEMON if charon
 * closed the connection.
 */
int vici_wait_event(struct vici_conn *c, vici_event_cb cb, void *ctx, int timeout_ms,
		    struct m2m_err *err);

/*
 * A response is {success=yes} or {success=no, errmsg=...}. Returns M2M_OK, or
 * M2M_ERR_FAILURE with "errmsg" (or "command failed") in err.
 */
int vici_check_success(const struct vici_node *resp, const char *cmd, struct m2m_err *err);

/* Debug aid and test helper: print a tree as JSON-ish text into a malloc'd string. */
char *vici_dump(const struct vici_node *n);

#endif

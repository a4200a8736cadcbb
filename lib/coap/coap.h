/* SPDX-License-Identifier: MIT */
/*
 * Internal to libm2m: CoAP and DTLS on libcoap3 (OpenSSL flavour). One
 * context with one client session to one server, which both sends our
 * requests (synchronously, under our own deadline: libcoap reports a wrong
 * PSK only after about three minutes) and serves the server's requests on
 * resources added by path. Block-wise transfers (RFC 7959) are ours both
 * ways (block.c), not libcoap's, so that no peer's claim sizes an
 * allocation: a body, sent or received, is delivered whole and is never
 * larger than the context's body limit. Nothing here knows LwM2M.
 */
#ifndef M2M_COAP_H
#define M2M_COAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m2m/config.h"
#include "m2m/m2m.h"

/* no Content-Format / Accept option: outside the options' range (65535 is a value) */
#define M2M_COAP_NONE 0x10000u

/* method and response codes as class.detail bytes */
enum {
	M2M_COAP_GET = 1,
	M2M_COAP_POST = 2,
	M2M_COAP_PUT = 3,
	M2M_COAP_DELETE = 4,
	M2M_COAP_FETCH = 5,   /* RFC 8132 */
	M2M_COAP_IPATCH = 7,  /* RFC 8132 */
};

struct m2m_key;

struct m2m_coap_opts {
	const char *uri;              /* coap://host[:port] or coaps://host[:port] */
	enum m2m_dm_security security;
	const char *psk_identity;
	const uint8_t *psk_key;       /* copied (kept for new sessions, wiped at close) */
	size_t psk_len;
	const char *cert, *key, *ca;  /* X509: PEM files (key NULL if on a token) */
	/*
	 * X509 from a bootstrap server (certificate mode): our certificate and
	 * key, and the server's certificate or its CA, DER in memory that must
	 * stay valid until mcoap_close(). The server must present that very
	 * certificate (then its name is not checked), or one issued by it.
	 */
	const uint8_t *der_cert, *der_key, *der_server;
	size_t der_cert_len, der_key_len, der_server_len;
	/*
	 * X509 with the key on a PKCS#11 token (p11_module set): libcoap's
	 * COAP_PKI_KEY_PKCS11 through OpenSSL's "pkcs11" engine (libp11). The
	 * PIN must stay valid until mcoap_close() (libcoap keeps the pointer).
	 */
	const char *p11_module, *p11_token, *p11_id, *p11_pin;
	/*
	 * X509 with the key in a store that signs for us (a TPM): libcoap 4.3.1
	 * has no key type for it, so its signatures come from m2m_key_sign()
	 * (SHA-256 only). cert holds the certificate (chain) for it. The key
	 * must stay open until mcoap_close().
	 */
	struct m2m_key *store_key;
	unsigned block_size;          /* preferred block size (16..1024), 0: 1024 */
	/*
	 * Plain CoAP: the local UDP port to send from (0: any), so that a
	 * server knows us by the same address across runs; if it is taken, any
	 * (mcoap_local_port() says which). Not for DTLS: a server may still
	 * hold the old session for that address and ignore a new ClientHello.
	 */
	unsigned local_port;
	size_t max_body;              /* largest body received (request or answer); 0: 64 KiB */
	unsigned resolve_ms;          /* the server's name looked up within this; 0: M2M_RESOLVE_MS */
	volatile const int *resolve_stop; /* ... or until this is set (may be NULL) */
};

#define M2M_COAP_MAX_BODY (64 * 1024)

/* A Block1 or Block2 option (RFC 7959 2.2) */
struct m2m_coap_block {
	bool has;
	bool more;
	unsigned num, szx;
};

/* A request that reached us, or the response to one of ours. */
struct m2m_coap_msg {
	unsigned code;
	char path[128];       /* "/3/0/1": Uri-Path, or Location-Path of a response */
	char query[256];      /* "a=1&b=2" */
	unsigned content_format, accept; /* M2M_COAP_NONE if absent */
	int observe;          /* Observe option value, -1 if absent */
	uint8_t token[8];
	size_t toklen;
	const uint8_t *payload;
	size_t len;
	struct m2m_coap_block block1, block2;
	bool bad_option;      /* a block option too long or with the reserved SZX 7, a size too long */
	bool has_size1;
	uint64_t size1, size2; /* Size1 (a request's total size), Size2 (an answer's) */
	uint8_t etag[8];      /* an answer's ETag */
	size_t etag_len;
	unsigned n_if_match;  /* If-Match options of a request (RFC 7252 5.10.8.1) */
	struct {
		uint8_t v[8];
		size_t len;   /* 0: matches any current representation */
	} if_match[4];
};

struct m2m_coap_reply {
	unsigned code;
	unsigned content_format;
	int observe;          /* >= 0: answer with this Observe value (observation taken) */
	uint8_t *payload;     /* malloc()ed by the handler, freed by the glue */
	size_t len;
};

typedef void (*m2m_coap_handler)(void *ctx, const struct m2m_coap_msg *req,
				 struct m2m_coap_reply *rep);

struct m2m_coap;

/*
 * Create the context and the session (no packet is sent yet: the DTLS
 * handshake happens with the first request). CONFIG for a bad URI,
 * UNREACHABLE if the name does not resolve, CREDENTIAL for unusable files.
 */
int mcoap_open(const struct m2m_coap_opts *o, m2m_coap_handler h, void *ctx,
		  struct m2m_coap **out, struct m2m_err *err);
void mcoap_close(struct m2m_coap *c);

/*
 * Serve requests for path ("/3/0/1"). Observe is the handler's: it takes an
 * observation by setting reply.observe, and sends the notifications itself
 * (mcoap_send_notify), so that they can outlive the session and the process
 * (LwM2M queue mode; notifications stored while offline).
 */
int mcoap_add_path(struct m2m_coap *c, const char *path, struct m2m_err *err);
/*
 * Every other path goes to the handler too (resource instances /o/i/r/ri,
 * whose number changes; unknown paths, which the handler answers 4.04).
 */
int mcoap_add_unknown(struct m2m_coap *c, struct m2m_err *err);

/*
 * A resource whose request bodies are taken a block at a time (RFC 7959 2.3)
 * instead of whole under the body limit (one such path a context; NULL fn:
 * none): each block of a PUT or POST to path goes to fn as it comes, in order
 * from block 0, with req->block1 its NUM, M and SZX (a body in one datagram:
 * no Block1, offset 0) and offset its first byte's place in the body. fn
 * answers it with a response code: a 2.xx to a block with more to follow is
 * sent as 2.31 Continue with Block1 (NUM, M=1, SZX); the last block's answer
 * is the request's, with Block1 (NUM, M=0, SZX). A block that does not
 * continue the body in progress (2.9.2), or one with more to follow that is
 * not of the size its SZX says (2.2), does not reach fn: 4.08 Request Entity
 * Incomplete or 4.00, and that body ends; the last block again (our 2.31 was
 * lost) is answered 2.31 again, not given to fn twice. A body fn refused
 * (an answer that is not 2.xx) ends too. The body limit does not apply: fn
 * bounds the body (4.13). A body in progress with no block for 93 s ends.
 */
typedef unsigned (*m2m_coap_block1_fn)(void *ctx, const struct m2m_coap_msg *req,
				       uint64_t offset);
void mcoap_on_block1(struct m2m_coap *c, const char *path, m2m_coap_block1_fn fn, void *ctx);

/*
 * Send a confirmable request and wait for its response at most timeout_ms.
 * A payload larger than the block size goes in Block1 blocks (one exchange
 * each, the server's smaller block size heeded); an answer in Block2 blocks
 * is fetched block by block (GET only) up to the body limit, all within
 * timeout_ms. resp->payload points into *body (malloc()ed, free it). The
 * result is OK for any response (the code is in resp->code); TIMEOUT,
 * UNREACHABLE, AUTH_LOCAL (DTLS handshake refused), PROTOCOL (an answer over
 * the body limit, or one whose blocks do not fit together) otherwise.
 */
int mcoap_request(struct m2m_coap *c, unsigned method, const char *path, const char *query,
		     unsigned content_format, const uint8_t *payload, size_t len,
		     unsigned timeout_ms, struct m2m_coap_msg *resp, uint8_t **body,
		     struct m2m_err *err);

/*
 * The same request without blocking: mcoap_start() sends its first message;
 * mcoap_poll() (after each mcoap_process()) sends the next ones and is true
 * once the outcome is known; mcoap_finish() gives it as mcoap_request()
 * would. One request at a time; the payload must stay valid until then.
 * mcoap_discard() forgets a request under way (its late answer is ignored).
 */
int mcoap_start(struct m2m_coap *c, unsigned method, const char *path, const char *query,
		unsigned content_format, const uint8_t *payload, size_t len, unsigned timeout_ms,
		struct m2m_err *err);
bool mcoap_poll(struct m2m_coap *c);
int mcoap_finish(struct m2m_coap *c, struct m2m_coap_msg *resp, uint8_t **body,
		 struct m2m_err *err);
void mcoap_discard(struct m2m_coap *c);
/*
 * Resume a GET whose answer comes in Block2 blocks (a pull cut short) from
 * block num on, blocks of block_size bytes (16..1024, a power of two: the
 * size of the blocks taken before; 0: the context's). etag is the ETag those
 * blocks had (etag_len 0: none): an answer with another, the resource changed
 * (RFC 7959 2.4, RFC 7252 5.10.6), is PROTOCOL and the caller starts again
 * from block 0; so is one that does not start at byte num * block_size (a
 * server that ignores the Block2 option). Then mcoap_poll() and
 * mcoap_finish() as for mcoap_start(): the body holds the bytes from
 * num * block_size to the end, under the body limit; resp->block2.num is the
 * server's first block (in its own block size, which may be smaller). Any
 * answer but 2.xx (4.02 for a block beyond the end) is OK with its code.
 * mcoap_get_from() waits for it as mcoap_request() does.
 */
int mcoap_start_from(struct m2m_coap *c, const char *path, const char *query, unsigned num,
		     unsigned block_size, const uint8_t *etag, size_t etag_len,
		     unsigned timeout_ms, struct m2m_err *err);
int mcoap_get_from(struct m2m_coap *c, const char *path, const char *query, unsigned num,
		   unsigned block_size, const uint8_t *etag, size_t etag_len, unsigned timeout_ms,
		   struct m2m_coap_msg *resp, uint8_t **body, struct m2m_err *err);
/*
 * One block of a GET's answer, for a pull that writes each block to disk as
 * it comes and resumes from the last whole one (lib/update): block num of
 * block_size bytes asked for with Block2 NUM/0/SZX, and the server's answer
 * as it came, not joined with the next blocks (resp->block2 says its number,
 * size and whether more follow; resp->etag and resp->size2 if it sent them).
 * PROTOCOL if it does not start at byte num * block_size, or if both etag
 * (etag_len > 0) and the answer carry an ETag and they differ. An answer
 * without an ETag is taken: libcoap's coap-server sends none (and no Size2)
 * for a block asked for out of sequence, so the caller's hash of the whole
 * must catch a resource that changed between blocks.
 */
int mcoap_start_block(struct m2m_coap *c, const char *path, const char *query, unsigned num,
		      unsigned block_size, const uint8_t *etag, size_t etag_len,
		      unsigned timeout_ms, struct m2m_err *err);
int mcoap_get_block(struct m2m_coap *c, const char *path, const char *query, unsigned num,
		    unsigned block_size, const uint8_t *etag, size_t etag_len, unsigned timeout_ms,
		    struct m2m_coap_msg *resp, uint8_t **body, struct m2m_err *err);
/*
 * The next block of a mcoap_start_block() series asked for from libcoap's
 * answer handler, as libcoap's own client does, rather than after
 * mcoap_process() returns (a trip through the caller's loop, and libcoap
 * disarms and arms its retransmission timer again on the way): when block num
 * comes as a full block of a 2.xx answer with more to follow, in the size
 * asked for, and ok(ctx, answer) says it is wanted, block num + 1 is asked for
 * at once; the caller's mcoap_start_block() of that very block (same path,
 * query and size) then takes the request under way instead of sending one.
 * Still one request at a time (NSTART = 1, RFC 7252 4.7): the next goes out
 * only once the answer before it is in. ok is called inside mcoap_process():
 * it must not call lib/coap. NULL: off.
 */
typedef bool (*m2m_coap_next_block_fn)(void *ctx, const struct m2m_coap_msg *answer);
void mcoap_on_next_block(struct m2m_coap *c, m2m_coap_next_block_fn ok, void *ctx);
/* Until the request under way gives up, in ms (UINT64_MAX: none under way). */
uint64_t mcoap_wait_ms(struct m2m_coap *c);

/* Where lib/coap says what libcoap does not (datagrams it drops). */
typedef void (*m2m_coap_log_fn)(void *ctx, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void mcoap_set_log(struct m2m_coap *c, m2m_coap_log_fn log, void *ctx);

/* Serve and retransmit for up to ms milliseconds. */
int mcoap_process(struct m2m_coap *c, unsigned ms);
/* The same for what is ready now (datagrams in, retransmissions due), never waiting. */
int mcoap_process_ready(struct m2m_coap *c);
/*
 * One descriptor that polls readable when mcoap_process_ready() has work:
 * libcoap's own epoll descriptor over every socket of the context and its
 * timer, so it outlives a new session (mcoap_rehandshake). -1 if libcoap
 * was built without epoll.
 */
int mcoap_fd(const struct m2m_coap *c);

/*
 * A notification (RFC 7641) of path: a 2.05 with the observation's token,
 * Observe seq and the payload. Larger than the block size, it carries the
 * first block with ETag and Size2, and the later blocks the server GETs are
 * served from this very payload (RFC 7959 2.6, 3.4), not from a newer value
 * of path. A confirmable one is retransmitted by libcoap; if it
 * fails, the callback says so with the token: reset (the server forgot the
 * observation) or not (no answer: the server is out of reach).
 */
typedef void (*m2m_coap_notify_failed)(void *ctx, const uint8_t *token, size_t toklen,
				       bool reset);
void mcoap_on_notify_failed(struct m2m_coap *c, m2m_coap_notify_failed fn);
int mcoap_send_notify(struct m2m_coap *c, const char *path, bool confirmable,
		      const uint8_t *token, size_t toklen, uint32_t seq, unsigned content_format,
		      const uint8_t *payload, size_t len, struct m2m_err *err);
/* The block size in use (what fits one notification). */
size_t mcoap_block_size(const struct m2m_coap *c);
/* Nothing of ours waits for an acknowledgement (every confirmable answered). */
bool mcoap_idle(struct m2m_coap *c);

/*
 * Parse one CoAP datagram the way a request or response reaching us is
 * read (options joined, segments kept); for the fuzz target. False if
 * libcoap rejects the datagram.
 */
bool mcoap_parse(const uint8_t *data, size_t len, bool request, struct m2m_coap_msg *out);

/*
 * DTLS: a new session from a new port, whose first message starts a new
 * handshake (RFC 6347 allows one at any time); a request under way is
 * discarded. For a server that lost our session (it restarted, failed over,
 * or a NAT rebound us) and drops the records of an epoch it does not know
 * without a word. On failure (a token that no longer logs in) the next
 * mcoap_start() tries again.
 */
int mcoap_rehandshake(struct m2m_coap *c, struct m2m_err *err);
bool mcoap_dtls(const struct m2m_coap *c);

/* The session's local UDP port (the fuzz target sends the server's requests there). */
unsigned mcoap_local_port(const struct m2m_coap *c);

/* Whether the DTLS session is up (always true for plain CoAP once used). */
bool mcoap_connected(const struct m2m_coap *c);

/*
 * The transport to a server of the configuration itself (its bootstrap
 * server, its LwM2M server, a coaps update server): the dm: section's
 * security mode, files or token key, the PSK read into *key and the token
 * PIN (or TPM auth value) into *pin, both for the caller to wipe (the PIN
 * only after mcoap_close(): libcoap keeps a pointer to it). A TPM key is
 * opened and its auth value tried here, under the TPM's lockout policy (exit
 * 9, 13 as for VPN keys): o->store_key, for the caller to close with
 * m2m_key_close() after mcoap_close().
 */
struct m2m_secret;
int mcoap_config_opts(const struct m2m_config *cfg, const char *uri, struct m2m_coap_opts *o,
		      struct m2m_secret *key, struct m2m_secret *pin, struct m2m_err *err);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Internal to lib/coap: the context shared by its files. session.c: the
 * context, its session and libcoap's handlers; coap.c: the session's
 * credentials (PSK, X.509, keys on a token or in the key store) and its DTLS
 * handshake watched; dtls.c: DTLS events, failures and a new handshake;
 * msg.c: a message read; serve.c: the server's requests and our
 * notifications; request.c: our requests; block.c: block-wise transfers
 * (RFC 7959).
 *
 * The pitfalls of libcoap 4.3.1 (lab notes) are handled once: addresses
 * resolved with getaddrinfo, options built through optlists, Content-Format
 * added by hand for text/plain answers, no block mode of libcoap's, and a
 * deadline of our own around coap_io_process().
 */
#ifndef M2M_COAP_INT_H
#define M2M_COAP_INT_H

#include <coap3/coap.h>

#include "coap/coap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct m2m_coap {
	coap_context_t *ctx;
	coap_session_t *s;      /* NULL after a new session failed (mcoap_rehandshake) */
	coap_address_t dst;     /* the server's address */
	struct m2m_coap_opts o; /* as given to mcoap_open (strings and PSK copied) */
	m2m_coap_handler handler;
	m2m_coap_notify_failed notify_failed;
	m2m_coap_log_fn log;
	void *log_ctx;
	unsigned dropped;       /* datagrams libcoap dropped since the last log line */
	uint64_t dropped_logged_at;
	/* our recent non-confirmable notifications, to tell whose a reset is */
	struct {
		bool used;
		coap_mid_t mid;
		uint8_t token[8];
		size_t toklen;
	} non[16];
	unsigned non_next;
	/*
	 * The answers to the server's recent non-idempotent requests (POST,
	 * iPATCH), by message ID and token: one it sends again (our ACK lost) is
	 * answered again, not done again (RFC 7252 4.5), for EXCHANGE_LIFETIME.
	 */
	struct answered {
		bool used;
		uint64_t at;            /* m2m_now_ms() when answered */
		coap_mid_t mid;
		uint8_t token[8];
		size_t toklen;
		coap_pdu_code_t code;
		uint8_t opts[192];      /* its options: [number:2][length:2][value] ... */
		size_t optlen;
		uint8_t body[256];
		size_t bodylen;
	} answered[8];
	unsigned answered_next;
	void *hctx;
	bool dtls, connected, dtls_failed;
	unsigned block_szx;
	char *host;
	/* X509 with a token key: the PEM files we load ourselves, and why it failed */
	const char *cert, *ca;
	char setup_err[160];
	/* the values of recent large notifications, for the blocks the server GETs */
	struct kept {
		char path[64];
		unsigned cf;
		uint8_t *p;
		size_t len;
		uint64_t etag, at;
	} kept[4];
	/* X509 with a key that signs through the key store (a TPM) */
	struct m2m_key *store_key;
	char sign_err[400];
	int sign_rc;            /* the key store's verdict (CREDENTIAL, PIN_LOCKOUT, DEVICE) */
	/* the server certificate a bootstrap server gave: trusted as it is */
	const uint8_t *pinned;
	size_t pinned_len;
	/*
	 * What the DTLS handshake showed, to tell why it failed (libcoap says
	 * only "TLS failed", or nothing for minutes): watched through an info
	 * callback of ours on the session's SSL, chained to libcoap's.
	 */
	struct {
		uint64_t hello_at, finished_at;
		unsigned rtt_ms;            /* ClientHello to the server's first answer */
		bool answered;              /* the server sent a handshake message */
		bool finished_sent;         /* our Finished is out, the server's not in */
		char alert_in[64];          /* fatal alert the server sent us */
		char alert_out[64];         /* fatal alert we sent (we refused the server) */
		char why[128];              /* OpenSSL's reason for it, from its error queue */
		char peer[320];             /* why the server's certificate was refused */
	} hs;
	/* the largest body we take in, and the request body arriving in Block1 blocks */
	size_t max_body;
	struct {
		bool active;    /* blocks before the next are in */
		char path[128];
		unsigned code, cf;
		unsigned last_num;      /* the block answered last (2.31), for its repetition */
		uint8_t *p;
		size_t len;
		uint64_t at;    /* when the last block came */
	} rx;
	/* the resource whose request bodies go to a handler a block at a time (mcoap_on_block1) */
	struct {
		char path[64];
		m2m_coap_block1_fn fn;
		void *ctx;
		bool active;    /* a body in progress: blocks before the next are in */
		unsigned code, last_num;
		uint64_t next;  /* the next block's offset */
		uint64_t at;    /* when the last block came */
	} b1s;
	/* the request of ours under way (mcoap_start), one message of it at a time */
	struct mcoap_xfer {
		bool active, finished;
		unsigned method, cf;
		char path[128], query[256];
		const uint8_t *payload; /* the caller's, valid until finished */
		size_t len, off, chunk;
		uint64_t deadline;
		unsigned timeout_ms;
		struct m2m_coap_block b1, b2;
		bool fetching;          /* the answer's later Block2 blocks */
		bool resume;            /* a GET resumed (mcoap_start_from): from byte base on */
		bool one;               /* that block alone (mcoap_start_block) */
		size_t base;
		uint8_t etag[8];        /* the ETag the earlier blocks had */
		size_t etag_len;
		struct m2m_coap_msg resp, first;
		uint8_t *p;             /* the last answer's payload */
		uint8_t *all;           /* the answer's blocks so far */
		size_t got;
		int rc;
		struct m2m_err err;
		/*
		 * The next block of a mcoap_start_block() series, asked for from
		 * libcoap's handler (mcoap_on_next_block) and not yet taken by the
		 * caller's mcoap_start_block(): its answer arrives here.
		 */
		bool ahead;
		unsigned ahead_num;
		struct m2m_coap_msg ahead_resp;
	} x;
	m2m_coap_next_block_fn next_block;
	void *next_block_ctx;
	/* the one message of ours awaiting its answer */
	struct {
		uint8_t token[8];
		size_t toklen;
		bool busy, done, nacked;
		bool b1, b2;            /* a block of a series: its number, for late answers */
		unsigned b1num, b2num;
		coap_nack_reason_t reason;
		struct m2m_coap_msg *resp;
		uint8_t *body;
	} req;
};

static inline struct m2m_coap *mcoap_of(const coap_session_t *s)
{
	return coap_session_get_app_data(s);
}

/* session.c: libcoap started, its log handler ours (once a process) */
int mcoap_setup_once(void);

/* coap.c: a new client session from c->o (at open, for a new handshake, after one failed) */
int mcoap_new_session(struct m2m_coap *c, struct m2m_err *err);
struct m2m_coap *mcoap_log_owner(void);
void mcoap_disown(struct m2m_coap *c);

/* dtls.c: why a DTLS handshake failed, from what it showed (for request.c) */
int mcoap_hs_error(struct m2m_coap *c, unsigned timeout_ms, struct m2m_err *err);
int mcoap_on_event(coap_session_t *s, const coap_event_t ev);

/* request.c: the answer to our message is in c->req (from session.c's handler) */
void mcoap_answered(struct m2m_coap *c);

/* msg.c */
void mcoap_fill_msg(const coap_pdu_t *pdu, struct m2m_coap_msg *m, bool request);

/* block.c */
uint64_t mcoap_etag_of(const uint8_t *p, size_t len);
size_t mcoap_block_opt(uint8_t v[4], unsigned num, bool more, unsigned szx);
bool mcoap_add_cf(coap_pdu_t *pdu, unsigned cf);
unsigned mcoap_put_block(coap_pdu_t *pdu, const uint8_t *p, size_t len, uint64_t etag,
			 unsigned num, unsigned szx);
uint64_t mcoap_keep_note(struct m2m_coap *c, const char *path, unsigned cf, const uint8_t *p,
			 size_t len);
const struct kept *mcoap_kept_note(struct m2m_coap *c, const char *path, unsigned accept);
void mcoap_block_answer(struct m2m_coap *c, const struct m2m_coap_msg *m,
			struct m2m_coap_reply *rep, coap_pdu_t *resp);
/*
 * A request's body: 0 when m holds the whole body (a single datagram, or the
 * last block of a series, then m->payload points to the assembled body until
 * mcoap_rx_done()); otherwise the request is answered in resp (2.31 Continue,
 * 4.00, 4.08 Request Entity Incomplete, 4.13 Request Entity Too Large).
 */
int mcoap_rx(struct m2m_coap *c, struct m2m_coap_msg *m, coap_pdu_t *resp);
/* A request to the path of mcoap_on_block1: true if it was one (answered in resp). */
bool mcoap_rx_stream(struct m2m_coap *c, const struct m2m_coap_msg *m, coap_pdu_t *resp);
/* After the handler: Block1 acknowledged in the final answer, the body freed */
void mcoap_rx_done(struct m2m_coap *c, const struct m2m_coap_msg *m, coap_pdu_t *resp);
void mcoap_rx_drop(struct m2m_coap *c);

#endif

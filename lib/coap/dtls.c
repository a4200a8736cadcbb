/* SPDX-License-Identifier: MIT */
/*
 * The DTLS session's state once it is set up (coap.c sets it up): libcoap's
 * events, why a handshake failed (from what coap.c's watch saw), and a new
 * handshake from a new port.
 */
#include <string.h>

#include "base/base.h"
#include "coap/coap_int.h"

/* libcoap's session events: DTLS up, lost or failed (which fails the request under way) */
int mcoap_on_event(coap_session_t *s, const coap_event_t ev)
{
	struct m2m_coap *c = mcoap_of(s);

	if (!c)
		return 0;
	if (ev == COAP_EVENT_DTLS_CONNECTED)
		c->connected = true;
	if (ev == COAP_EVENT_DTLS_CLOSED && c->connected) {
		/* an established session lost: what its handshake showed is stale */
		memset(&c->hs, 0, sizeof(c->hs));
		c->hs.hello_at = m2m_now_ms();
	}
	if (ev == COAP_EVENT_DTLS_ERROR || ev == COAP_EVENT_DTLS_CLOSED) {
		c->connected = false;
		c->dtls_failed = ev == COAP_EVENT_DTLS_ERROR;
		if (c->req.busy && c->dtls_failed) {
			c->req.nacked = true;
			c->req.reason = COAP_NACK_TLS_FAILED;
			c->req.done = true;
		}
	}
	return 0;
}

/*
 * Why the DTLS handshake failed, from what it showed: the server's
 * certificate refused by us (AUTH_REMOTE), a fatal alert from the server or
 * our Finished never answered (the server could not decrypt it: PSK key or
 * certificate refused; AUTH_LOCAL), or no answer at all (UNREACHABLE).
 */
int mcoap_hs_error(struct m2m_coap *c, unsigned timeout_ms, struct m2m_err *err)
{
	if (c->sign_err[0])
		return m2m_err_set(err, c->sign_rc ? c->sign_rc : M2M_ERR_CREDENTIAL,
				   "%s: DTLS: our key did not sign: %s", c->host, c->sign_err);
	if (c->hs.peer[0])
		return m2m_err_set(err, M2M_ERR_AUTH_REMOTE,
				   "%s: DTLS: the server's %s", c->host, c->hs.peer);
	if (c->hs.alert_out[0])
		return m2m_err_set(err, M2M_ERR_AUTH_REMOTE,
				   "%s: DTLS: we refused the server (%s: %s)", c->host,
				   c->hs.alert_out, c->hs.why[0] ? c->hs.why : "no reason given");
	if (c->hs.alert_in[0])
		return m2m_err_set(err, M2M_ERR_AUTH_LOCAL,
				   "%s: DTLS: the server refused us (%s): PSK identity or "
				   "certificate not accepted", c->host, c->hs.alert_in);
	if (c->hs.finished_sent)
		return m2m_err_set(err, M2M_ERR_AUTH_LOCAL,
				   "%s: DTLS: the server answered the handshake but not our "
				   "Finished: PSK key (or certificate) not accepted", c->host);
	if (c->hs.answered)
		return m2m_err_set(err, M2M_ERR_PROTOCOL,
				   "%s: DTLS handshake stalled after the server's first answer",
				   c->host);
	return m2m_err_set(err, M2M_ERR_UNREACHABLE,
			   "%s: no answer to the DTLS handshake within %u ms", c->host, timeout_ms);
}

int mcoap_rehandshake(struct m2m_coap *c, struct m2m_err *err)
{
	if (!c->dtls)
		return M2M_OK;
	mcoap_discard(c);
	/*
	 * A new session, from a new port: a server that still holds our old
	 * session for the old address (a libcoap server does, until it times
	 * out) would feed a new ClientHello to it and ignore it.
	 */
	if (c->s) {
		coap_session_set_app_data(c->s, NULL);
		coap_session_release(c->s);
		c->s = NULL;
	}
	c->connected = false;
	memset(&c->hs, 0, sizeof(c->hs));
	c->hs.hello_at = m2m_now_ms();
	return mcoap_new_session(c, err);
}

bool mcoap_dtls(const struct m2m_coap *c)
{
	return c->dtls;
}

bool mcoap_connected(const struct m2m_coap *c)
{
	return c->connected;
}

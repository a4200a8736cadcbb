/* SPDX-License-Identifier: MIT */
/*
 * Client-initiated bootstrap (LwM2M 1.1 core 6.1): Bootstrap-Request, then
 * the bootstrap server's Bootstrap-Delete, -Write (objects 0 and 1),
 * -Discover and -Finish. What was written is checked at Finish and kept in
 * state_dir/dm-bootstrap.json (atomic write, 0600: it holds the PSK), where
 * m2m_dm_open() finds the server and credentials to register with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/base.h"
#include "coap/coap.h"
#include "lwm2m/lwm2m.h"
#include "lwm2m/state.h"
#include "m2m/dm.h"
#include "m2m/keystore.h"

#define BS_MAX 4

struct bs_sec {
	bool used;
	uint16_t inst;
	struct lw_bs_server s;
	bool bootstrap;
};

struct bs_srv {
	bool used;
	uint16_t inst;
	unsigned ssid, lifetime;
	char binding[4];
};

struct bs_state {
	const struct m2m_config *cfg;
	struct bs_sec sec[BS_MAX];
	struct bs_srv srv[BS_MAX];
	bool finished;
	int finish_rc;
	struct m2m_err *err;
	m2m_log_fn log;
	void *log_ctx;
};

/* ---- the requests of the bootstrap server ---- */

static struct bs_sec *sec_slot(struct bs_state *bs, uint16_t inst)
{
	for (int i = 0; i < BS_MAX; i++)
		if (bs->sec[i].used && bs->sec[i].inst == inst)
			return &bs->sec[i];
	for (int i = 0; i < BS_MAX; i++)
		if (!bs->sec[i].used) {
			memset(&bs->sec[i], 0, sizeof(bs->sec[i]));
			bs->sec[i].used = true;
			bs->sec[i].inst = inst;
			return &bs->sec[i];
		}
	return NULL;
}

static struct bs_srv *srv_slot(struct bs_state *bs, uint16_t inst)
{
	for (int i = 0; i < BS_MAX; i++)
		if (bs->srv[i].used && bs->srv[i].inst == inst)
			return &bs->srv[i];
	for (int i = 0; i < BS_MAX; i++)
		if (!bs->srv[i].used) {
			memset(&bs->srv[i], 0, sizeof(bs->srv[i]));
			bs->srv[i].used = true;
			bs->srv[i].inst = inst;
			return &bs->srv[i];
		}
	return NULL;
}

static int bytes_of(struct lw_value *v, uint8_t *out, size_t max, size_t *len)
{
	int rc = lw_value_coerce(v, LW_OPAQUE);

	if (rc || v->len > max)
		return rc ? rc : LW_BAD_REQUEST;
	memcpy(out, v->buf, v->len);
	*len = v->len;
	return 0;
}

/* Apply one decoded record of a Bootstrap-Write; unknown resources are ignored. */
static int bs_apply(struct bs_state *bs, struct lw_record *r)
{
	struct lw_value *v = &r->v;
	uint16_t obj = r->path.id[0], res = r->path.id[2];
	int rc = 0;

	if (r->path.depth < 3)
		return LW_BAD_REQUEST;
	if (obj == 0) {
		struct bs_sec *s = sec_slot(bs, r->path.id[1]);

		if (!s)
			return LW_INTERNAL;
		switch (res) {
		case 0:
			rc = lw_value_coerce(v, LW_STRING);
			if (!rc && v->len < sizeof(s->s.uri)) {
				memcpy(s->s.uri, v->buf, v->len);
				s->s.uri[v->len] = 0;
			}
			break;
		case 1:
			rc = lw_value_coerce(v, LW_BOOLEAN);
			s->bootstrap = !rc && v->i;
			break;
		case 2:
			rc = lw_value_coerce(v, LW_INTEGER);
			s->s.mode = rc ? 0 : (int)v->i;
			break;
		case 3:
			rc = bytes_of(v, s->s.identity, sizeof(s->s.identity), &s->s.id_len);
			break;
		case 4:
			rc = bytes_of(v, s->s.server_key, sizeof(s->s.server_key),
				      &s->s.server_key_len);
			break;
		case 5:
			rc = bytes_of(v, s->s.secret, sizeof(s->s.secret), &s->s.secret_len);
			break;
		case 10:
			rc = lw_value_coerce(v, LW_INTEGER);
			s->s.ssid = rc ? 0 : (unsigned)v->i;
			break;
		}
	} else if (obj == 1) {
		struct bs_srv *s = srv_slot(bs, r->path.id[1]);

		if (!s)
			return LW_INTERNAL;
		switch (res) {
		case 0:
		case 1:
			rc = lw_value_coerce(v, LW_INTEGER);
			if (!rc)
				*(res ? &s->lifetime : &s->ssid) = (unsigned)v->i;
			break;
		case 7:
			rc = lw_value_coerce(v, LW_STRING);
			if (!rc && v->len < sizeof(s->binding)) {
				memcpy(s->binding, v->buf, v->len);
				s->binding[v->len] = 0;
			}
			break;
		}
	} else {
		return LW_NOT_ALLOWED;
	}
	return rc;
}

/*
 * Certificate mode: our certificate (resource 3), its private key (5) and
 * the server's certificate or CA (4), all DER, must parse and the key must
 * be the certificate's, or the device would be left with credentials it
 * cannot use: refused at Finish, when the bootstrap server can still act.
 */
static bool x509_usable(const struct lw_bs_server *s, struct m2m_err *err)
{
	const unsigned char *p;
	X509 *mine = NULL, *server = NULL;
	EVP_PKEY *key = NULL;
	bool ok;

	p = s->identity;
	mine = d2i_X509(NULL, &p, (long)s->id_len);
	p = s->secret;
	key = d2i_AutoPrivateKey(NULL, &p, (long)s->secret_len);
	p = s->server_key;
	server = d2i_X509(NULL, &p, (long)s->server_key_len);
	ok = mine && key && server && X509_check_private_key(mine, key) == 1 &&
	     (EVP_PKEY_base_id(key) == EVP_PKEY_EC || EVP_PKEY_base_id(key) == EVP_PKEY_RSA);
	if (!ok)
		m2m_err_set(err, M2M_ERR_PROTOCOL, "Bootstrap-Finish: certificate mode: %s",
			    !mine ? "our certificate (0/x/3) is not DER X.509" :
			    !key ? "the private key (0/x/5) is not DER" :
			    !server ? "the server certificate (0/x/4) is not DER X.509" :
			    X509_check_private_key(mine, key) != 1 ?
				      "the private key does not match our certificate" :
				      "the key is neither EC nor RSA (what DTLS here can use)");
	ERR_clear_error();
	X509_free(mine);
	X509_free(server);
	EVP_PKEY_free(key);
	return ok;
}

static int bs_finish(struct bs_state *bs)
{
	struct lw_bs_server s;
	const struct bs_sec *sec = NULL;

	for (int i = 0; i < BS_MAX; i++)
		if (bs->sec[i].used && !bs->sec[i].bootstrap && bs->sec[i].s.uri[0])
			sec = &bs->sec[i];
	if (!sec) {
		m2m_err_set(bs->err, M2M_ERR_PROTOCOL, "Bootstrap-Finish: no LwM2M server was written");
		return LW_CODE(4, 6);
	}
	if (sec->s.mode != 0 && sec->s.mode != 2 && sec->s.mode != 3) {
		m2m_err_set(bs->err, M2M_ERR_PROTOCOL,
			    "Bootstrap-Finish: security mode %d not supported (PSK 0, Certificate 2 "
			    "and NoSec 3 are)", sec->s.mode);
		return LW_CODE(4, 6);
	}
	if (sec->s.mode == 2 && !x509_usable(&sec->s, bs->err))
		return LW_CODE(4, 6);
	s = sec->s;
	s.lifetime = bs->cfg->dm.lifetime_ms / 1000;
	snprintf(s.binding, sizeof(s.binding), "%s",
		 bs->cfg->dm.binding == M2M_DM_BINDING_UQ ? "UQ" : "U");
	for (int i = 0; i < BS_MAX; i++) {
		if (!bs->srv[i].used || bs->srv[i].ssid != s.ssid)
			continue;
		if (bs->srv[i].lifetime)
			s.lifetime = bs->srv[i].lifetime;
		if (bs->srv[i].binding[0])
			snprintf(s.binding, sizeof(s.binding), "%s", bs->srv[i].binding);
	}
	bs->finish_rc = lw_bs_save(bs->cfg, &s, bs->err);
	explicit_bzero(&s, sizeof(s));
	bs->finished = true;
	return bs->finish_rc ? LW_INTERNAL : 0;
}

/*
 * Bootstrap-Read (LwM2M 1.1): what the bootstrap server wrote into Server
 * object instances so far. Only the Server object may be read (there is no
 * Access Control object here); the Security object, which holds the keys,
 * never: 4.01.
 */
static int bs_read(struct bs_state *bs, const struct lw_path *p, unsigned fmt,
		   struct m2m_coap_reply *rep)
{
	struct lw_records rs = { 0 };
	struct lw_buf b = { 0 };
	unsigned used = fmt;
	int rc = 0;

	if (p->depth == 0 || p->id[0] != 1)
		return LW_UNAUTHORIZED;
	for (int i = 0; i < BS_MAX && !rc; i++) {
		const struct bs_srv *v = &bs->srv[i];
		/* Short Server ID, Lifetime, Binding */
		static const uint16_t ids[] = { 0, 1, 7 };

		for (size_t k = 0; v->used && k < sizeof(ids) / sizeof(ids[0]) && !rc; k++) {
			struct lw_path rp = { { 1, v->inst, ids[k], 0 }, 3 };
			struct lw_record *r;

			if (!lw_path_under(&rp, p))
				continue;
			if (!(r = lw_records_add(&rs, &rp)))
				rc = LW_INTERNAL;
			else if (ids[k] == 7)
				rc = lw_value_set_bytes(&r->v, LW_STRING, v->binding,
							strlen(v->binding)) ? 0 : LW_INTERNAL;
			else
				r->v = (struct lw_value){ .type = LW_INTEGER,
							  .i = ids[k] ? v->lifetime : v->ssid };
		}
	}
	if (!rc && !rs.n && p->depth > 1)
		rc = LW_NOT_FOUND;
	if (!rc)
		rc = lw_encode(&rs, p, fmt, &b, &used);
	lw_records_free(&rs);
	if (rc || b.oom) {
		lw_buf_free(&b);
		return rc ? rc : LW_INTERNAL;
	}
	rep->code = LW_CONTENT;
	rep->content_format = used;
	rep->payload = b.p;
	rep->len = b.len;
	return 0;
}

static void bs_request(void *ctx, const struct m2m_coap_msg *req, struct m2m_coap_reply *rep)
{
	struct bs_state *bs = ctx;
	struct lw_records rs = { 0 };
	struct lw_path p;
	int rc = 0;

	rep->content_format = M2M_COAP_NONE;
	if (strcmp(req->path, "/bs") == 0 && req->code == M2M_COAP_POST) {
		rc = bs_finish(bs);
		rep->code = rc ? (unsigned)rc : LW_CHANGED;
		return;
	}
	if (!lw_path_parse(req->path, strlen(req->path), &p)) {
		rep->code = LW_NOT_FOUND;
		return;
	}
	switch (req->code) {
	case M2M_COAP_DELETE:
		/* Bootstrap-Delete of /, /0, /1 or one instance of them */
		for (int i = 0; i < BS_MAX; i++) {
			struct lw_path sp = { { 0, bs->sec[i].inst, 0, 0 }, 2 };
			struct lw_path vp = { { 1, bs->srv[i].inst, 0, 0 }, 2 };

			if (lw_path_under(&sp, &p))
				bs->sec[i].used = false;
			if (lw_path_under(&vp, &p))
				bs->srv[i].used = false;
		}
		rep->code = LW_DELETED;
		return;
	case M2M_COAP_PUT:
		if (p.depth == 0 || (p.id[0] != 0 && p.id[0] != 1)) {
			rc = LW_NOT_ALLOWED;
			break;
		}
		if (req->content_format == LW_FMT_TLV)
			rc = lw_tlv_decode(req->payload, req->len, &p, &rs);
		else if (req->content_format == LW_FMT_SENML_JSON)
			rc = lw_senml_json_decode(req->payload, req->len, &rs);
		else if (req->content_format == LW_FMT_SENML_CBOR)
			rc = lw_senml_cbor_decode(req->payload, req->len, &rs);
		else
			rc = LW_UNSUPPORTED_CF;
		for (size_t i = 0; !rc && i < rs.n; i++)
			rc = lw_path_under(&rs.r[i].path, &p) ? bs_apply(bs, &rs.r[i]) : LW_BAD_REQUEST;
		break;
	case M2M_COAP_GET: {
		/* Bootstrap-Discover: what we have, with the server ids */
		struct lw_buf b = { 0 };

		if (req->accept == LW_FMT_TLV || req->accept == LW_FMT_SENML_JSON ||
		    req->accept == LW_FMT_SENML_CBOR) {
			rc = bs_read(bs, &p, req->accept, rep);
			if (!rc)
				return;
			break;
		}

		if (req->accept != LW_FMT_LINK && req->accept != M2M_COAP_NONE) {
			rc = LW_NOT_ACCEPTABLE;
			break;
		}
		lw_buf_printf(&b, "</>;lwm2m=1.1");
		for (int i = 0; i < BS_MAX; i++)
			if (bs->sec[i].used && (p.depth == 0 || p.id[0] == 0))
				lw_buf_printf(&b, ",</0/%u>%s", bs->sec[i].inst,
					      bs->sec[i].bootstrap ? "" : ";ssid=1");
		for (int i = 0; i < BS_MAX; i++)
			if (bs->srv[i].used && (p.depth == 0 || p.id[0] == 1))
				lw_buf_printf(&b, ",</1/%u>;ssid=%u", bs->srv[i].inst, bs->srv[i].ssid);
		if (p.depth == 0 || p.id[0] == 3)
			lw_buf_printf(&b, ",</3/0>");
		rep->code = b.oom ? LW_INTERNAL : LW_CONTENT;
		rep->content_format = LW_FMT_LINK;
		rep->payload = b.p;
		rep->len = b.len;
		return;
	}
	default:
		rc = LW_NOT_ALLOWED;
	}
	lw_records_free(&rs);
	rep->code = rc ? (unsigned)rc : LW_CHANGED;
}

int m2m_dm_bootstrap(const struct m2m_config *cfg, unsigned timeout_ms, m2m_log_fn log,
		     void *log_ctx, struct m2m_err *err)
{
	static const char *const paths[] = { "/", "/0", "/1", "/0/0", "/0/1", "/0/2", "/0/3",
					     "/1/0", "/1/1", "/1/2", "/1/3", "/bs" };
	struct m2m_coap_opts o = { 0 };
	struct m2m_secret key = { 0 }, pin = { 0 };
	struct bs_state bs = { .cfg = cfg, .err = err, .log = log, .log_ctx = log_ctx };
	struct m2m_coap_msg resp;
	struct m2m_coap *c = NULL;
	struct m2m_key *store_key = NULL;
	uint64_t end = m2m_now_ms() + timeout_ms;
	uint8_t *body = NULL;
	char query[192];
	int rc;

	if (!cfg->dm.enabled || !cfg->dm.bootstrap)
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: dm.bootstrap: not configured",
				   cfg->path ? cfg->path : "config");
	rc = mcoap_config_opts(cfg, cfg->dm.bootstrap, &o, &key, &pin, err);
	if (rc)
		return rc;
	store_key = o.store_key;
	rc = mcoap_open(&o, bs_request, &bs, &c, err);
	m2m_secret_wipe(&key);
	for (size_t i = 0; !rc && i < sizeof(paths) / sizeof(paths[0]); i++)
		rc = mcoap_add_path(c, paths[i], err);
	if (!rc) {
		snprintf(query, sizeof(query), "ep=%s&pct=%u", cfg->dm.endpoint,
			 (unsigned)LW_FMT_SENML_CBOR);
		rc = mcoap_request(c, M2M_COAP_POST, "bs", query, M2M_COAP_NONE, NULL, 0,
				      timeout_ms, &resp, &body, err);
	}
	/* the transport's own messages do not say whom it was talking to */
	if (rc) {
		m2m_err_prefix(err, "bootstrap server %s", cfg->dm.bootstrap);
		goto out;
	}
	free(body);
	if (!rc && resp.code != LW_CHANGED)
		rc = m2m_err_set(err, resp.code == LW_CODE(4, 0) || resp.code == LW_CODE(4, 3) ?
					M2M_ERR_AUTH_LOCAL : M2M_ERR_PROTOCOL,
				 "Bootstrap-Request: the server answered %u.%02u", resp.code >> 5,
				 resp.code & 31);
	if (rc)
		goto out;
	if (log)
		log(log_ctx, LOG_INFO, "bootstrap requested from %s", cfg->dm.bootstrap);
	while (!bs.finished && m2m_now_ms() < end)
		mcoap_process(c, 50);
	/* let the answer to Bootstrap-Finish leave */
	if (bs.finished)
		mcoap_process(c, 20);
	if (!bs.finished)
		rc = m2m_err_set(err, M2M_ERR_TIMEOUT, "%s: no Bootstrap-Finish within %u ms",
				 cfg->dm.bootstrap, timeout_ms);
	else
		rc = bs.finish_rc;
	if (!rc && log)
		log(log_ctx, LOG_INFO, "bootstrap finished");
out:
	mcoap_close(c);
	m2m_key_close(store_key);
	m2m_secret_wipe(&pin);
	explicit_bzero(&bs.sec, sizeof(bs.sec));
	return rc;
}

int m2m_dm_bootstrapped(const struct m2m_config *cfg)
{
	struct lw_bs_server s;
	int rc = lw_bs_load(cfg, &s);

	explicit_bzero(&s, sizeof(s));
	return rc == M2M_OK;
}

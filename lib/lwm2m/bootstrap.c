/* SPDX-License-Identifier: MIT */
/*
 * Client-initiated bootstrap (LwM2M 1.1 core 6.1): Bootstrap-Request, then
 * the bootstrap server's Bootstrap-Delete, -Write (objects 0 and 1),
 * -Discover, -Read and -Finish. What was written is checked at Finish and
 * kept in state_dir/dm-bootstrap.json (atomic write, 0600: it holds the PSK),
 * where m2m_dm_open() finds the server and credentials to register with:
 * with the instance IDs and the Short Server ID as written (TS 1.1 Core
 * 5.2.7.4 and appendix E: a Security and a Server instance belong together
 * by their Short Server ID), and the Server resources this client has. A
 * value it cannot keep is refused (4.00), never answered 2.04 and dropped.
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
#include "lwm2m/objects.h"
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
	unsigned dflt_pmin, dflt_pmax, disable_timeout, has; /* has: LW_BS_HAS_* */
	bool notif_storing;
};

/* The objects this client has, for Bootstrap-Discover (as m2m_dm_open() builds them). */
struct bs_model {
	struct lw_objects objs;
	struct lw_registry reg;
	bool ok;
};

struct bs_state {
	const struct m2m_config *cfg;
	struct bs_sec sec[BS_MAX];
	struct bs_srv srv[BS_MAX];
	struct bs_model *model;
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

/* An integer value in [lo, hi], or LW_BAD_REQUEST. */
static int int_in(struct lw_value *v, int64_t lo, int64_t hi, unsigned *out)
{
	if (lw_value_coerce(v, LW_INTEGER) || v->i < lo || v->i > hi)
		return LW_BAD_REQUEST;
	*out = (unsigned)v->i;
	return 0;
}

/*
 * Apply one decoded record of a Bootstrap-Write to target (the request's
 * path). A resource this client does not have is ignored when the Write
 * names its instance or object (TS 1.1 Core 5.2.7.4: "MUST ignore optional
 * resources it does not support"), refused (4.00) when it names the
 * resource itself: then the value would be answered 2.04 and dropped.
 */
static int bs_apply(struct bs_state *bs, struct lw_record *r, const struct lw_path *target)
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
			/* Bootstrap-Discover quotes it: no '"', nothing RFC 3986 has not */
			rc = lw_value_coerce(v, LW_STRING);
			if (!rc && v->len >= sizeof(s->s.uri))
				rc = LW_BAD_REQUEST;
			for (size_t i = 0; !rc && i < v->len; i++)
				if (v->buf[i] <= ' ' || v->buf[i] > '~' || v->buf[i] == '"' ||
				    v->buf[i] == '\\')
					rc = LW_BAD_REQUEST;
			if (!rc) {
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
			/* E.1: 1-65534 (0 and 65535 are reserved) */
			rc = int_in(v, 1, 65534, &s->s.ssid);
			break;
		default:
			rc = target->depth >= 3 ? LW_BAD_REQUEST : 0;
		}
	} else if (obj == 1) {
		struct bs_srv *s = srv_slot(bs, r->path.id[1]);

		if (!s)
			return LW_INTERNAL;
		switch (res) {
		case 0:
			rc = int_in(v, 1, 65534, &s->ssid);
			break;
		case 1:
			/* the range a Write of the server is held to (obj_server.c) */
			rc = int_in(v, 10, 86400 * 31, &s->lifetime);
			break;
		case 2:
		case 3:
			rc = int_in(v, 0, 86400, res == 2 ? &s->dflt_pmin : &s->dflt_pmax);
			s->has |= rc ? 0 : res == 2 ? LW_BS_HAS_PMIN : LW_BS_HAS_PMAX;
			break;
		case 5:
			rc = int_in(v, 0, INT32_MAX, &s->disable_timeout);
			s->has |= rc ? 0 : LW_BS_HAS_DISABLE;
			break;
		case 6:
			rc = lw_value_coerce(v, LW_BOOLEAN);
			if (!rc) {
				s->notif_storing = v->i != 0;
				s->has |= LW_BS_HAS_STORING;
			}
			break;
		case 7:
			/* U and UQ are what this client can do; S, T, N would be dropped */
			rc = lw_value_coerce(v, LW_STRING);
			if (!rc && !((v->len == 1 && v->buf[0] == 'U') ||
				     (v->len == 2 && memcmp(v->buf, "UQ", 2) == 0)))
				rc = LW_BAD_REQUEST;
			if (!rc) {
				memcpy(s->binding, v->buf, v->len);
				s->binding[v->len] = 0;
			}
			break;
		default:
			rc = target->depth >= 3 ? LW_BAD_REQUEST : 0;
		}
	} else {
		return LW_NOT_ALLOWED;
	}
	return rc ? LW_BAD_REQUEST : 0;
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

/*
 * Bootstrap-Finish: one LwM2M server account, a Security instance and the
 * Server instance of the same Short Server ID (appendix E), as this client
 * registers with one server; anything else is an inconsistency to report
 * here (5.2.6), when the bootstrap server can still put it right.
 */
static int bs_finish(struct bs_state *bs)
{
	struct lw_bs_server s;
	const struct bs_sec *sec = NULL;
	const struct bs_srv *srv = NULL;
	unsigned n_sec = 0, n_srv = 0;

	for (int i = 0; i < BS_MAX; i++)
		if (bs->sec[i].used && !bs->sec[i].bootstrap && bs->sec[i].s.uri[0]) {
			sec = &bs->sec[i];
			n_sec++;
		}
	if (!sec) {
		m2m_err_set(bs->err, M2M_ERR_PROTOCOL, "Bootstrap-Finish: no LwM2M server was written");
		return LW_NOT_ACCEPTABLE;
	}
	if (n_sec > 1) {
		m2m_err_set(bs->err, M2M_ERR_PROTOCOL, "Bootstrap-Finish: %u LwM2M server accounts "
			    "(Security instances): this client registers with one", n_sec);
		return LW_NOT_ACCEPTABLE;
	}
	for (int i = 0; i < BS_MAX; i++) {
		if (!bs->srv[i].used)
			continue;
		n_srv++;
		if (bs->srv[i].ssid == sec->s.ssid)
			srv = &bs->srv[i];
	}
	/* a Security instance without resource 10: the one Server instance there is */
	if (!srv && !sec->s.ssid && n_srv == 1)
		for (int i = 0; i < BS_MAX; i++)
			if (bs->srv[i].used)
				srv = &bs->srv[i];
	if (!srv) {
		m2m_err_set(bs->err, M2M_ERR_PROTOCOL, "Bootstrap-Finish: no Server instance (/1) "
			    "with the Short Server ID %u of Security instance /0/%u", sec->s.ssid,
			    sec->inst);
		return LW_NOT_ACCEPTABLE;
	}
	if (sec->s.mode != 0 && sec->s.mode != 2 && sec->s.mode != 3) {
		m2m_err_set(bs->err, M2M_ERR_PROTOCOL,
			    "Bootstrap-Finish: security mode %d not supported (PSK 0, Certificate 2 "
			    "and NoSec 3 are)", sec->s.mode);
		return LW_NOT_ACCEPTABLE;
	}
	if (sec->s.mode == 2 && !x509_usable(&sec->s, bs->err))
		return LW_NOT_ACCEPTABLE;
	s = sec->s;
	s.sec_inst = sec->inst;
	s.srv_inst = srv->inst;
	s.ssid = srv->ssid;
	s.lifetime = srv->lifetime ? srv->lifetime : bs->cfg->dm.lifetime_ms / 1000;
	snprintf(s.binding, sizeof(s.binding), "%s", srv->binding[0] ? srv->binding :
		 bs->cfg->dm.binding == M2M_DM_BINDING_UQ ? "UQ" : "U");
	s.dflt_pmin = srv->dflt_pmin;
	s.dflt_pmax = srv->dflt_pmax;
	s.disable_timeout = srv->disable_timeout;
	s.notif_storing = srv->notif_storing;
	s.has = srv->has;
	bs->finish_rc = lw_bs_save(bs->cfg, &s, bs->err);
	explicit_bzero(&s, sizeof(s));
	bs->finished = true;
	return bs->finish_rc ? LW_INTERNAL : 0;
}

/* One resource of a Server instance for Bootstrap-Read, if it is there. */
static int srv_value(const struct bs_srv *v, uint16_t res, struct lw_value *out)
{
	unsigned has = res == 2 ? LW_BS_HAS_PMIN : res == 3 ? LW_BS_HAS_PMAX :
		       res == 5 ? LW_BS_HAS_DISABLE : res == 6 ? LW_BS_HAS_STORING : 0;

	if (has && !(v->has & has))
		return LW_NOT_FOUND;
	switch (res) {
	case 7:
		return lw_value_set_bytes(out, LW_STRING, v->binding, strlen(v->binding)) ?
			       0 : LW_INTERNAL;
	case 6:
		*out = (struct lw_value){ .type = LW_BOOLEAN, .i = v->notif_storing };
		return 0;
	}
	*out = (struct lw_value){ .type = LW_INTEGER,
				  .i = res == 0 ? v->ssid : res == 1 ? v->lifetime :
				       res == 2 ? v->dflt_pmin : res == 3 ? v->dflt_pmax :
				       v->disable_timeout };
	return 0;
}

/*
 * Bootstrap-Read (LwM2M 1.1): what the Server object instances hold, in the
 * format asked for or, without an Accept option, in the client's default for
 * a Read (lw_encode). Only the Server object may be read (there is no Access
 * Control object here); the Security object, which holds the keys, never: 4.01.
 */
static int bs_read(struct bs_state *bs, const struct lw_path *p, unsigned fmt,
		   struct m2m_coap_reply *rep)
{
	/* Short Server ID, Lifetime, the notification defaults, Disable Timeout, Binding */
	static const uint16_t ids[] = { 0, 1, 2, 3, 5, 6, 7 };
	struct lw_records rs = { 0 };
	struct lw_buf b = { 0 };
	unsigned used = fmt;
	int rc = 0;

	if (p->depth == 0 || p->id[0] != 1)
		return LW_UNAUTHORIZED;
	for (int i = 0; i < BS_MAX && !rc; i++) {
		const struct bs_srv *v = &bs->srv[i];

		for (size_t k = 0; v->used && k < sizeof(ids) / sizeof(ids[0]) && !rc; k++) {
			struct lw_path rp = { { 1, v->inst, ids[k], 0 }, 3 };
			struct lw_value val = { 0 };
			struct lw_record *r;

			if (!lw_path_under(&rp, p) || srv_value(v, ids[k], &val) == LW_NOT_FOUND)
				continue;
			if (!(r = lw_records_add(&rs, &rp)))
				rc = LW_INTERNAL;
			else
				r->v = val;
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

/* The slots of object 0 or 1 in use, in ascending order of instance ID; how many. */
static int sorted_slots(const struct bs_state *bs, uint16_t obj, int out[BS_MAX])
{
	int n = 0;

	for (int i = 0; i < BS_MAX; i++) {
		uint16_t id = obj == 0 ? bs->sec[i].inst : bs->srv[i].inst;
		int k = n;

		if (!(obj == 0 ? bs->sec[i].used : bs->srv[i].used))
			continue;
		for (; k > 0 && (obj == 0 ? bs->sec[out[k - 1]].inst : bs->srv[out[k - 1]].inst) > id;
		     k--)
			out[k] = out[k - 1];
		out[k] = i;
		n++;
	}
	return n;
}

/*
 * Bootstrap-Discover (TS 1.1 Core 5.2.7.3): the enabler version on the root,
 * every object this client has (with its version where it is not 1.0) and its
 * instances; Security and Server instances with their Short Server ID, and
 * Security instances with their server's URI (the Bootstrap-Server account
 * has no Short Server ID and is listed bare, as in the specification's example).
 */
static void bs_discover(struct bs_state *bs, const struct lw_path *p, struct lw_buf *b)
{
	const struct lw_registry *reg = &bs->model->reg;
	int slot[BS_MAX];

	lw_buf_printf(b, "</>;lwm2m=1.1");
	for (size_t i = 0; bs->model->ok && i < reg->n; i++) {
		const struct lw_object *o = reg->obj[i];
		int n;

		if (p->depth && p->id[0] != o->id)
			continue;
		if (o->version && strcmp(o->version, "1.0") != 0)
			lw_buf_printf(b, ",</%u>;ver=%s", o->id, o->version);
		if (o->id > 1) {
			if (!o->n_inst && !o->version)
				lw_buf_printf(b, ",</%u>", o->id);
			for (size_t k = 0; k < o->n_inst; k++)
				if (p->depth < 2 || p->id[1] == o->inst[k])
					lw_buf_printf(b, ",</%u/%u>", o->id, o->inst[k]);
			continue;
		}
		n = sorted_slots(bs, o->id, slot);
		if (!n && !o->version)
			lw_buf_printf(b, ",</%u>", o->id);
		for (int k = 0; k < n; k++) {
			const struct bs_sec *sc = &bs->sec[slot[k]];
			const struct bs_srv *sv = &bs->srv[slot[k]];

			if (p->depth >= 2 && p->id[1] != (o->id ? sv->inst : sc->inst))
				continue;
			if (o->id == 1) {
				lw_buf_printf(b, ",</1/%u>;ssid=%u", sv->inst, sv->ssid);
				continue;
			}
			lw_buf_printf(b, ",</0/%u>", sc->inst);
			if (sc->bootstrap)
				continue;
			if (sc->s.ssid)
				lw_buf_printf(b, ";ssid=%u", sc->s.ssid);
			if (sc->s.uri[0])
				lw_buf_printf(b, ";uri=\"%s\"", sc->s.uri);
		}
	}
}

static void bs_request(void *ctx, const struct m2m_coap_msg *req, struct m2m_coap_reply *rep)
{
	struct bs_state *bs = ctx;
	struct lw_records rs = { 0 };
	struct bs_sec sec0[BS_MAX];
	struct bs_srv srv0[BS_MAX];
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
		/*
		 * Bootstrap-Delete (5.2.7.5) of /, /0, /1 or instances of them; the
		 * Bootstrap-Server account stays, and so does the Device object.
		 * The other objects' instances are what the device is (its
		 * configuration, its interfaces): not deleted, so not 2.02.
		 */
		if (p.depth > 2 || (p.depth && p.id[0] > 1 && p.id[0] != 3)) {
			rc = LW_BAD_REQUEST;
			break;
		}
		for (int i = 0; i < BS_MAX; i++) {
			struct lw_path sp = { { 0, bs->sec[i].inst, 0, 0 }, 2 };
			struct lw_path vp = { { 1, bs->srv[i].inst, 0, 0 }, 2 };

			if (lw_path_under(&sp, &p) && !bs->sec[i].bootstrap)
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
		/* all of it or nothing: a refused value leaves what was there */
		memcpy(sec0, bs->sec, sizeof(sec0));
		memcpy(srv0, bs->srv, sizeof(srv0));
		for (size_t i = 0; !rc && i < rs.n; i++)
			rc = lw_path_under(&rs.r[i].path, &p) ? bs_apply(bs, &rs.r[i], &p) :
								LW_BAD_REQUEST;
		if (rc) {
			memcpy(bs->sec, sec0, sizeof(sec0));
			memcpy(bs->srv, srv0, sizeof(srv0));
		}
		explicit_bzero(sec0, sizeof(sec0));
		break;
	case M2M_COAP_GET: {
		struct lw_buf b = { 0 };

		/*
		 * Bootstrap-Discover asks for link format (TS 1.1 Transport 6.1);
		 * anything else is a Bootstrap-Read, whose Accept is optional. "/"
		 * cannot be read: a GET of it without Accept is a Discover.
		 */
		if (req->accept != LW_FMT_LINK && !(req->accept == M2M_COAP_NONE && p.depth == 0)) {
			rc = bs_read(bs, &p, req->accept, rep);
			if (!rc)
				return;
			break;
		}
		if (p.depth > 2) {
			rc = LW_BAD_REQUEST;
			break;
		}
		bs_discover(bs, &p, &b);
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

/*
 * What is there before the bootstrap server acts (5.2.7.3 reports it, 5.2.7.5
 * deletes from it): the server account of an earlier bootstrap, if any, and
 * the Bootstrap-Server account of the configuration, in the first Security
 * instance free.
 */
static void bs_existing(struct bs_state *bs)
{
	struct lw_bs_server prev;
	struct bs_sec *sc;
	uint16_t id = 0;

	if (lw_bs_load(bs->cfg, &prev) == M2M_OK) {
		struct bs_srv *sv = srv_slot(bs, prev.srv_inst);

		sc = sec_slot(bs, prev.sec_inst);
		if (!sc || !sv)
			return;
		sc->s = prev;
		sv->ssid = prev.ssid;
		sv->lifetime = prev.lifetime;
		snprintf(sv->binding, sizeof(sv->binding), "%s", prev.binding);
		sv->dflt_pmin = prev.dflt_pmin;
		sv->dflt_pmax = prev.dflt_pmax;
		sv->disable_timeout = prev.disable_timeout;
		sv->notif_storing = prev.notif_storing;
		sv->has = prev.has;
		if (prev.sec_inst == 0)
			id = 1;
	}
	explicit_bzero(&prev, sizeof(prev));
	sc = sec_slot(bs, id);
	if (!sc)
		return;
	sc->bootstrap = true;
	snprintf(sc->s.uri, sizeof(sc->s.uri), "%s", bs->cfg->dm.bootstrap);
}

int m2m_dm_bootstrap(const struct m2m_config *cfg, unsigned timeout_ms, m2m_log_fn log,
		     void *log_ctx, struct m2m_err *err)
{
	static const char *const paths[] = { "/", "/0", "/1", "/0/0", "/0/1", "/0/2", "/0/3",
					     "/1/0", "/1/1", "/1/2", "/1/3", "/bs" };
	struct m2m_coap_opts o = { 0 };
	struct m2m_secret key = { 0 }, pin = { 0 };
	struct bs_state bs = { .cfg = cfg, .err = err, .log = log, .log_ctx = log_ctx };
	struct bs_model *model = NULL;
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
	model = calloc(1, sizeof(*model));
	if (!model)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	model->ok = lw_objects_init(&model->objs, cfg, &model->reg) == 0;
	bs.model = model;
	bs_existing(&bs);
	rc = mcoap_config_opts(cfg, cfg->dm.bootstrap, &o, &key, &pin, err);
	if (rc)
		goto out;
	store_key = o.store_key;
	o.resolve_ms = timeout_ms ? timeout_ms : 1;
	rc = mcoap_open(&o, bs_request, &bs, &c, err);
	m2m_secret_wipe(&key);
	for (size_t i = 0; !rc && i < sizeof(paths) / sizeof(paths[0]); i++)
		rc = mcoap_add_path(c, paths[i], err);
	/* any instance ID the bootstrap server chooses, and single resources */
	if (!rc)
		rc = mcoap_add_unknown(c, err);
	if (!rc) {
		/* what the name lookup left of the bound */
		uint64_t now = m2m_now_ms();

		snprintf(query, sizeof(query), "ep=%s&pct=%u", cfg->dm.endpoint,
			 (unsigned)LW_FMT_SENML_CBOR);
		rc = now >= end ? m2m_err_set(err, M2M_ERR_TIMEOUT, "out of time after the name lookup") :
		     mcoap_request(c, M2M_COAP_POST, "bs", query, M2M_COAP_NONE, NULL, 0,
				   (unsigned)(end - now), &resp, &body, err);
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
	m2m_secret_wipe(&key);
	m2m_secret_wipe(&pin);
	explicit_bzero(&bs.sec, sizeof(bs.sec));
	lw_objects_free(&model->objs);
	free(model);
	return rc;
}

int m2m_dm_bootstrapped(const struct m2m_config *cfg)
{
	struct lw_bs_server s;
	int rc = lw_bs_load(cfg, &s);

	explicit_bzero(&s, sizeof(s));
	return rc == M2M_OK;
}

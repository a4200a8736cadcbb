/* SPDX-License-Identifier: MIT */
/*
 * What the LwM2M code keeps in the state directory and both the bootstrap
 * (bootstrap.c) and the client (client.c, dm_state.c) read: the JSON state
 * files through lib/state (atomic, 0600, a damaged one set aside), and the
 * server and credentials a bootstrap server gave us (state_dir/dm-bootstrap.json,
 * 0600: it holds the PSK).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/base.h"
#include "state/state.h"
#include "lwm2m/state.h"

/* a state text may hold a secret (the bootstrap's PSK): json-c's copy wiped before it is freed */
static void put_wiped(json_object *o)
{
	json_object *v;

	if (json_object_object_get_ex(o, "secret", &v) && json_object_is_type(v, json_type_string))
		explicit_bzero((char *)json_object_get_string(v), (size_t)json_object_get_string_len(v));
	json_object_put(o);
}

/* m2m_state_read's check: the text parses as a JSON object the caller's check accepts */
struct json_read {
	lw_json_check_fn check;
	void *ctx;
	json_object *o;
};

static int check_json(const char *buf, size_t len, void *ctx, struct m2m_err *err)
{
	struct json_read *r = ctx;
	json_tokener *tk = json_tokener_new();
	json_object *o = NULL;
	int rc;

	if (!tk)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	if (len <= INT32_MAX)
		o = json_tokener_parse_ex(tk, buf, (int)len);
	json_tokener_free(tk);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return m2m_err_set(err, M2M_ERR_FAILURE, "not a JSON object");
	}
	rc = r->check ? r->check(o, r->ctx, err) : M2M_OK;
	if (rc) {
		put_wiped(o);
		return rc;
	}
	r->o = o;
	return M2M_OK;
}

int lw_state_read_json(const struct m2m_config *cfg, const char *name, size_t max,
		       lw_json_check_fn check, void *ctx, json_object **out, struct m2m_err *err)
{
	struct json_read r = { .check = check, .ctx = ctx };
	struct m2m_state st;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = m2m_state_open_existing(&st, cfg->state_dir, err);
	/* a directory we may not read (a status run by another user) holds nothing for us */
	if (rc)
		return rc == M2M_ERR_CONFIG ? rc : M2M_ERR_NOT_FOUND;
	rc = m2m_state_read(&st, name, max, check_json, &r, &buf, &len, err);
	m2m_state_close(&st);
	if (buf)
		explicit_bzero(buf, len);
	free(buf);
	if (rc)
		return rc;
	*out = r.o;
	return M2M_OK;
}

int lw_state_write(const struct m2m_config *cfg, const char *name, const char *txt,
		   struct m2m_err *err)
{
	struct m2m_state st;
	int rc = m2m_state_open(&st, cfg->state_dir, err);

	if (rc)
		return rc;
	rc = m2m_state_write(&st, name, txt, strlen(txt), err);
	m2m_state_close(&st);
	return rc;
}

#define BS_FILE "dm-bootstrap.json"

/* A JSON string's text, "" for anything else (a corrupted file must not crash us). */
static const char *str_of(json_object *v)
{
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

/* An optional hex field: absent is fine, anything but hex that fits is not. */
static bool hex_field(json_object *o, const char *key, uint8_t *out, size_t max, size_t *len)
{
	json_object *v;

	*len = 0;
	if (!json_object_object_get_ex(o, key, &v))
		return true;
	return json_object_is_type(v, json_type_string) &&
	       m2m_unhex(json_object_get_string(v), out, max, len);
}

/* the Server resources a bootstrap server may have written, by their names in the file */
static const struct {
	const char *key;
	unsigned has;
} bs_opt[] = {
	{ "default_pmin", LW_BS_HAS_PMIN },
	{ "default_pmax", LW_BS_HAS_PMAX },
	{ "disable_timeout", LW_BS_HAS_DISABLE },
	{ "notification_storing", LW_BS_HAS_STORING },
};

static unsigned *bs_opt_field(struct lw_bs_server *s, unsigned has)
{
	return has == LW_BS_HAS_PMIN ? &s->dflt_pmin :
	       has == LW_BS_HAS_PMAX ? &s->dflt_pmax : &s->disable_timeout;
}

static json_object *bs_opt_json(const struct lw_bs_server *s, unsigned has)
{
	return json_object_new_int64(has == LW_BS_HAS_PMIN ? s->dflt_pmin :
				     has == LW_BS_HAS_PMAX ? s->dflt_pmax : s->disable_timeout);
}

/* what lw_bs_save writes: a server URI and, where present, hex that fits */
static int bs_parse(json_object *o, void *ctx, struct m2m_err *err)
{
	struct lw_bs_server *out = ctx;
	json_object *v;

	if (json_object_object_get_ex(o, "uri", &v))
		snprintf(out->uri, sizeof(out->uri), "%s", str_of(v));
	if (json_object_object_get_ex(o, "mode", &v))
		out->mode = json_object_get_int(v);
	if (json_object_object_get_ex(o, "ssid", &v))
		out->ssid = (unsigned)json_object_get_int(v);
	if (json_object_object_get_ex(o, "lifetime", &v))
		out->lifetime = (unsigned)json_object_get_int(v);
	if (json_object_object_get_ex(o, "binding", &v))
		snprintf(out->binding, sizeof(out->binding), "%s", str_of(v));
	/* a file of an older version has neither: Security and Server instance 0 */
	if (json_object_object_get_ex(o, "security_instance", &v))
		out->sec_inst = (uint16_t)json_object_get_int(v);
	if (json_object_object_get_ex(o, "server_instance", &v))
		out->srv_inst = (uint16_t)json_object_get_int(v);
	for (size_t i = 0; i < sizeof(bs_opt) / sizeof(bs_opt[0]); i++)
		if (json_object_object_get_ex(o, bs_opt[i].key, &v) &&
		    (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_boolean))) {
			out->has |= bs_opt[i].has;
			if (bs_opt[i].has == LW_BS_HAS_STORING)
				out->notif_storing = json_object_get_boolean(v);
			else
				*bs_opt_field(out, bs_opt[i].has) = (unsigned)json_object_get_int64(v);
		}
	if (!out->ssid || out->ssid > 65534)
		out->ssid = 1;
	if (!out->uri[0])
		return m2m_err_set(err, M2M_ERR_FAILURE, "no server URI");
	if (!hex_field(o, "identity", out->identity, sizeof(out->identity), &out->id_len) ||
	    !hex_field(o, "secret", out->secret, sizeof(out->secret), &out->secret_len) ||
	    !hex_field(o, "server_key", out->server_key, sizeof(out->server_key),
		       &out->server_key_len))
		return m2m_err_set(err, M2M_ERR_FAILURE, "a key that is not hex");
	return M2M_OK;
}

/*
 * A damaged file is set aside (dm-bootstrap.json.bad) and taken as none: the
 * next run bootstraps again, as it did when such a file was ignored.
 */
int lw_bs_load(const struct m2m_config *cfg, struct lw_bs_server *out)
{
	json_object *o = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = lw_state_read_json(cfg, BS_FILE, 65536, bs_parse, out, &o, NULL);
	put_wiped(o);
	if (rc) {
		explicit_bzero(out, sizeof(*out));
		return M2M_ERR_NOT_FOUND;
	}
	return M2M_OK;
}

int lw_bs_save(const struct m2m_config *cfg, const struct lw_bs_server *s, struct m2m_err *err)
{
	char idh[sizeof(s->identity) * 2 + 1], sech[sizeof(s->secret) * 2 + 1],
	     skh[sizeof(s->server_key) * 2 + 1];
	json_object *o = json_object_new_object(), *sv;
	const char *txt;
	int rc;

	if (!o)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	m2m_hex(s->identity, s->id_len, idh, sizeof(idh));
	m2m_hex(s->secret, s->secret_len, sech, sizeof(sech));
	m2m_hex(s->server_key, s->server_key_len, skh, sizeof(skh));
	json_object_object_add(o, "uri", json_object_new_string(s->uri));
	json_object_object_add(o, "mode", json_object_new_int(s->mode));
	json_object_object_add(o, "identity", json_object_new_string(idh));
	json_object_object_add(o, "secret", json_object_new_string(sech));
	if (s->server_key_len)
		json_object_object_add(o, "server_key", json_object_new_string(skh));
	json_object_object_add(o, "ssid", json_object_new_int((int)s->ssid));
	json_object_object_add(o, "lifetime", json_object_new_int((int)s->lifetime));
	json_object_object_add(o, "binding", json_object_new_string(s->binding));
	json_object_object_add(o, "security_instance", json_object_new_int(s->sec_inst));
	json_object_object_add(o, "server_instance", json_object_new_int(s->srv_inst));
	for (size_t i = 0; i < sizeof(bs_opt) / sizeof(bs_opt[0]); i++) {
		if (!(s->has & bs_opt[i].has))
			continue;
		json_object_object_add(o, bs_opt[i].key, bs_opt[i].has == LW_BS_HAS_STORING ?
				       json_object_new_boolean(s->notif_storing) :
				       bs_opt_json(s, bs_opt[i].has));
	}
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = lw_state_write(cfg, BS_FILE, txt, err);
	explicit_bzero(sech, sizeof(sech));
	/* the JSON text and json-c's copy held the secret too */
	explicit_bzero((char *)txt, strlen(txt));
	if (json_object_object_get_ex(o, "secret", &sv))
		explicit_bzero((char *)json_object_get_string(sv),
			       (size_t)json_object_get_string_len(sv));
	json_object_put(o);
	return rc;
}

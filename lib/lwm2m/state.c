/* SPDX-License-Identifier: MIT */
/*
 * What the LwM2M code keeps in the state directory and both the bootstrap
 * (bootstrap.c) and the client (client.c, dm_state.c) read: the JSON state
 * reader, and the server and credentials a bootstrap server gave us
 * (state_dir/dm-bootstrap.json, 0600: it holds the PSK).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/base.h"
#include "lwm2m/state.h"

json_object *lw_read_json_state(const char *path)
{
	struct m2m_err err;
	json_object *o;
	char *buf = NULL;
	size_t len = 0;

	if (!path || m2m_read_file(path, 65536, &buf, &len, &err))
		return NULL;
	o = json_tokener_parse(buf);
	explicit_bzero(buf, len);
	free(buf);
	return o;
}

static char *bs_path(const struct m2m_config *cfg)
{
	char *p = NULL;

	if (asprintf(&p, "%s/dm-bootstrap.json", cfg->state_dir) < 0)
		return NULL;
	return p;
}

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

int lw_bs_load(const struct m2m_config *cfg, struct lw_bs_server *out)
{
	char *path = bs_path(cfg);
	json_object *o, *v;
	int rc = M2M_ERR_NOT_FOUND;

	memset(out, 0, sizeof(*out));
	o = lw_read_json_state(path); /* the file holds the PSK: wiped there */
	free(path);
	if (!o)
		return M2M_ERR_NOT_FOUND;
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
	if (out->uri[0] &&
	    hex_field(o, "identity", out->identity, sizeof(out->identity), &out->id_len) &&
	    hex_field(o, "secret", out->secret, sizeof(out->secret), &out->secret_len) &&
	    hex_field(o, "server_key", out->server_key, sizeof(out->server_key),
		      &out->server_key_len))
		rc = M2M_OK;
	/* the text held the secret: wipe json-c's copy before it is freed */
	if (json_object_object_get_ex(o, "secret", &v) && json_object_is_type(v, json_type_string))
		explicit_bzero((char *)json_object_get_string(v), (size_t)json_object_get_string_len(v));
	json_object_put(o);
	if (rc)
		explicit_bzero(out, sizeof(*out));
	return rc;
}

int lw_bs_save(const struct m2m_config *cfg, const struct lw_bs_server *s, struct m2m_err *err)
{
	char idh[sizeof(s->identity) * 2 + 1], sech[sizeof(s->secret) * 2 + 1],
	     skh[sizeof(s->server_key) * 2 + 1];
	json_object *o = json_object_new_object(), *sv;
	char *path = bs_path(cfg);
	const char *txt;
	int rc;

	if (!o || !path) {
		json_object_put(o);
		free(path);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
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
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = m2m_mkdir_private(cfg->state_dir, err);
	if (!rc)
		rc = m2m_write_atomic(path, txt, strlen(txt), 0600, err);
	explicit_bzero(sech, sizeof(sech));
	/* the JSON text and json-c's copy held the secret too */
	explicit_bzero((char *)txt, strlen(txt));
	if (json_object_object_get_ex(o, "secret", &sv))
		explicit_bzero((char *)json_object_get_string(sv),
			       (size_t)json_object_get_string_len(sv));
	json_object_put(o);
	free(path);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * lib/update: the package manifest (m2m-update(5)), its strict reader and its
 * canonical writer, and versions. The manifest is signed data: what it does
 * not say exactly as the format says is INTEGRITY, never a guess.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "base/base.h"
#include "update/update.h"

const char *upd_type_name(enum upd_type t)
{
	switch (t) {
	case UPD_FIRMWARE:
		return "firmware";
	case UPD_SOFTWARE:
		return "software";
	case UPD_CONFIG:
		return "config";
	}
	return "unknown";
}

#define UPD_VERSION_PART_MAX 999999999u

bool upd_version_parse(const char *s, struct upd_version *v)
{
	struct upd_version r = { 0 };

	if (!s || !*s)
		return false;
	for (;;) {
		uint32_t n = 0;
		unsigned digits = 0;

		if (r.n == 4)
			return false;
		while (*s >= '0' && *s <= '9') {
			/* 9 digits at most: no overflow, and 999999999 is the bound */
			if (++digits > 9)
				return false;
			n = n * 10 + (uint32_t)(*s++ - '0');
		}
		if (digits == 0 || n > UPD_VERSION_PART_MAX)
			return false;
		r.part[r.n++] = n;
		if (*s == '\0')
			break;
		if (*s++ != '.')
			return false;
	}
	if (v)
		*v = r;
	return true;
}

int upd_version_cmp(const struct upd_version *a, const struct upd_version *b)
{
	for (unsigned i = 0; i < 4; i++) {
		uint32_t x = i < a->n ? a->part[i] : 0, y = i < b->n ? b->part[i] : 0;

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* "YYYY-MM-DDTHH:MM:SSZ" exactly: RFC 3339's UTC form without fractions or offsets */
static bool parse_utc(const char *s, int64_t *out)
{
	struct tm tm = { 0 }, back;
	int y, mo, d, h, mi, se;
	time_t t;

	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z')
		return false;
	for (int i = 0; i < 19; i++)
		if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && (s[i] < '0' || s[i] > '9'))
			return false;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &se) != 6)
		return false;
	/* no leap second: a manifest's expiry need not fall on one */
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	/* 2027-02-30 normalizes to March: not a date */
	if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != d || back.tm_mon != mo - 1)
		return false;
	*out = (int64_t)t;
	return true;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* a device model: 1 to 63 printable ASCII characters (device.model may hold spaces) */
static bool model_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static bool sha256_hex_ok(const char *s, uint8_t out[32])
{
	size_t n = 0;

	if (strlen(s) != 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return m2m_unhex(s, out, 32, &n) && n == 32;
}

/* a string member without an embedded NUL, at most max bytes; NULL if not one */
static const char *get_str(json_object *o, size_t max)
{
	const char *s;

	if (!json_object_is_type(o, json_type_string))
		return NULL;
	s = json_object_get_string(o);
	if (!s || (size_t)json_object_get_string_len(o) != strlen(s) || strlen(s) > max)
		return NULL;
	return s;
}

enum { K_FORMAT, K_TYPE, K_NAME, K_VERSION, K_MIN, K_MODELS, K_SIZE, K_SHA, K_INSTALLER,
       K_EXPIRES, K_COUNT };
static const char *const keys[K_COUNT] = {
	"format", "type", "name", "version", "min_installed", "models", "size", "sha256",
	"installer", "expires",
};

static int bad(struct m2m_err *err, const char *key, const char *why)
{
	return m2m_err_set(err, M2M_ERR_INTEGRITY, "manifest: \"%s\": %s", key, why);
}

static int check(json_object *root, struct upd_manifest *m, struct m2m_err *err)
{
	json_object *v[K_COUNT] = { 0 };
	const char *s;
	int64_t n;

	if (!json_object_is_type(root, json_type_object))
		return m2m_err_set(err, M2M_ERR_INTEGRITY, "manifest: not a JSON object");
	json_object_object_foreach(root, key, val) {
		int k;

		for (k = 0; k < K_COUNT; k++)
			if (strcmp(key, keys[k]) == 0)
				break;
		if (k == K_COUNT) {
			char shown[40];

			/* the key is outside input: show a bounded, printable part of it */
			snprintf(shown, sizeof(shown), "%s", key);
			for (char *p = shown; *p; p++)
				if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
					*p = '?';
			return m2m_err_set(err, M2M_ERR_INTEGRITY, "manifest: unknown key \"%s\"", shown);
		}
		v[k] = val;
	}
	for (int k = 0; k < K_COUNT; k++)
		if (!v[k] && k != K_MIN)
			return bad(err, keys[k], "missing");
	memset(m, 0, sizeof(*m));

	if (!json_object_is_type(v[K_FORMAT], json_type_int) || json_object_get_int64(v[K_FORMAT]) != 1)
		return bad(err, "format", "not 1 (the only format this reads)");
	m->format = 1;

	s = get_str(v[K_TYPE], 16);
	if (s && strcmp(s, "firmware") == 0)
		m->type = UPD_FIRMWARE;
	else if (s && strcmp(s, "software") == 0)
		m->type = UPD_SOFTWARE;
	else if (s && strcmp(s, "config") == 0)
		m->type = UPD_CONFIG;
	else
		return bad(err, "type", "not \"firmware\", \"software\" or \"config\"");

	s = get_str(v[K_NAME], sizeof(m->name) - 1);
	if (!s || !name_ok(s))
		return bad(err, "name", "not 1 to 63 of A-Z a-z 0-9 . _ -");
	strcpy(m->name, s);

	s = get_str(v[K_VERSION], sizeof(m->version) - 1);
	if (!s || !upd_version_parse(s, NULL))
		return bad(err, "version", "not 1 to 4 dot-separated numbers");
	strcpy(m->version, s);

	if (v[K_MIN]) {
		s = get_str(v[K_MIN], sizeof(m->min_installed) - 1);
		if (!s || !upd_version_parse(s, NULL))
			return bad(err, "min_installed", "not 1 to 4 dot-separated numbers");
		strcpy(m->min_installed, s);
	}

	if (!json_object_is_type(v[K_MODELS], json_type_array))
		return bad(err, "models", "not an array");
	n = (int64_t)json_object_array_length(v[K_MODELS]);
	if (n < 1 || n > UPD_MODELS_MAX)
		return bad(err, "models", "not 1 to 16 models");
	for (int64_t i = 0; i < n; i++) {
		s = get_str(json_object_array_get_idx(v[K_MODELS], (size_t)i), 63);
		if (!s || !model_ok(s))
			return bad(err, "models", "a model is not 1 to 63 printable ASCII characters");
		strcpy(m->models[i], s);
	}
	m->n_models = (size_t)n;

	/* json-c keeps integers above INT64_MAX as unsigned: refuse those as well */
	if (!json_object_is_type(v[K_SIZE], json_type_int) ||
	    (n = json_object_get_int64(v[K_SIZE])) < 0 || n == INT64_MAX)
		return bad(err, "size", "not a byte count (an integer from 0)");
	m->size = (uint64_t)n;

	s = get_str(v[K_SHA], 64);
	if (!s || !sha256_hex_ok(s, m->sha256))
		return bad(err, "sha256", "not 64 lower-case hex digits");

	s = get_str(v[K_INSTALLER], sizeof(m->installer) - 1);
	if (!s || (strcmp(s, "rauc") != 0 && strcmp(s, "script") != 0 && strcmp(s, "config") != 0 &&
		   strcmp(s, "trust") != 0))
		return bad(err, "installer", "not \"rauc\", \"script\", \"config\" or \"trust\"");
	strcpy(m->installer, s);

	s = get_str(v[K_EXPIRES], 20);
	if (!s || !parse_utc(s, &m->expires))
		return bad(err, "expires", "not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ)");
	return M2M_OK;
}

int upd_manifest_parse(const char *json, size_t len, struct upd_manifest *m, struct m2m_err *err)
{
	struct json_tokener *tok;
	json_object *root;
	struct upd_manifest tmp;
	int rc;

	if (!json || len == 0 || len > UPD_MANIFEST_MAX)
		return m2m_err_set(err, M2M_ERR_INTEGRITY, "manifest: empty or longer than %d bytes",
				   UPD_MANIFEST_MAX);
	/* a manifest nests two levels; anything deeper is not one */
	tok = json_tokener_new_ex(4);
	if (!tok)
		return m2m_err_set(err, M2M_ERR_FAILURE, "manifest: out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		const char *why = json_tokener_error_desc(json_tokener_get_error(tok));

		if (json_tokener_get_error(tok) == json_tokener_continue)
			why = "incomplete JSON";
		json_object_put(root);
		json_tokener_free(tok);
		return m2m_err_set(err, M2M_ERR_INTEGRITY, "manifest: not JSON: %s", why);
	}
	/* nothing after the object but white space */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (json[i] != ' ' && json[i] != '\n' && json[i] != '\r' && json[i] != '\t') {
			json_object_put(root);
			json_tokener_free(tok);
			return m2m_err_set(err, M2M_ERR_INTEGRITY, "manifest: data after the JSON object");
		}
	json_tokener_free(tok);
	rc = check(root, &tmp, err);
	json_object_put(root);
	if (rc == M2M_OK)
		*m = tmp;
	return rc;
}

char *upd_manifest_json(const struct upd_manifest *m)
{
	json_object *o = json_object_new_object(), *models = json_object_new_array();
	char hex[65], when[32];
	char *out = NULL;

	if (!o || !models)
		goto out;
	m2m_hex(m->sha256, 32, hex, sizeof(hex));
	if (!m2m_time_utc(m->expires, when, sizeof(when)))
		goto out;
	for (size_t i = 0; i < m->n_models && i < UPD_MODELS_MAX; i++)
		json_object_array_add(models, json_object_new_string(m->models[i]));
	/* the order of the format's text; json-c keeps insertion order */
	json_object_object_add(o, "format", json_object_new_int(1));
	json_object_object_add(o, "type", json_object_new_string(upd_type_name(m->type)));
	json_object_object_add(o, "name", json_object_new_string(m->name));
	json_object_object_add(o, "version", json_object_new_string(m->version));
	if (m->min_installed[0])
		json_object_object_add(o, "min_installed", json_object_new_string(m->min_installed));
	json_object_object_add(o, "models", models);
	models = NULL;
	json_object_object_add(o, "size", json_object_new_int64((int64_t)m->size));
	json_object_object_add(o, "sha256", json_object_new_string(hex));
	json_object_object_add(o, "installer", json_object_new_string(m->installer));
	json_object_object_add(o, "expires", json_object_new_string(when));
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
out:
	json_object_put(models);
	json_object_put(o);
	return out;
}

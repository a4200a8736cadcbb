/* SPDX-License-Identifier: MIT */
/*
 * The anti-rollback floor's file backend (journal.h, struct upd_floor_ops):
 * one JSON object {"<package name>": "<lowest acceptable version>", ...} in
 * the state directory (UPD_FLOOR_NAME, 0600, replaced atomically), raised
 * after a commit and never lowered. It stops a downgrade by the update path;
 * an attacker who can write the disk can still lower it, which is why a TPM
 * NV counter can take its place behind the same two calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/json.h"
#include "update/journal.h"
#include "update/update.h"

#define FLOOR_MAX (64 * 1024)

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

/*
 * The floors, or an empty object if there are none yet. A damaged file is an
 * error every time (never "no floor"): an update is refused rather than let a
 * downgrade through; a person looks at the file.
 */
static int load(const struct m2m_state *st, json_object **out, struct m2m_err *err)
{
	json_object *o = NULL;
	char *buf = NULL;
	size_t len = 0;
	struct upd_version v;
	int rc;

	*out = NULL;
	rc = m2m_state_read(st, UPD_FLOOR_NAME, FLOOR_MAX, NULL, NULL, &buf, &len, err);
	if (rc == M2M_ERR_NOT_FOUND) {
		*out = json_object_new_object();
		return *out ? M2M_OK : m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	if (rc)
		return rc;
	o = m2m_json_object(buf, len, 0);
	free(buf);
	if (!o)
		goto bad;
	json_object_object_foreach(o, key, val) {
		if (!name_ok(key) || !json_object_is_type(val, json_type_string) ||
		    !upd_version_parse(json_object_get_string(val), &v))
			goto bad;
	}
	*out = o;
	return M2M_OK;
bad:
	json_object_put(o);
	return m2m_err_set(err, M2M_ERR_STORAGE,
			   "%s/%s: damaged: not an object of package names and versions; "
			   "no update is installed until it is repaired", st->path, UPD_FLOOR_NAME);
}

static int floor_get(void *ctx, const char *name, char *version, size_t len, struct m2m_err *err)
{
	const struct m2m_state *st = ctx;
	json_object *o, *v;
	int rc;

	if (len)
		version[0] = '\0';
	if (!name_ok(name))
		return m2m_err_set(err, M2M_ERR_FAILURE, "floor: invalid package name");
	rc = load(st, &o, err);
	if (rc)
		return rc;
	if (json_object_object_get_ex(o, name, &v)) {
		if ((size_t)json_object_get_string_len(v) >= len)
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "floor: no room for the version");
		else
			memcpy(version, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
	}
	json_object_put(o);
	return rc;
}

static int floor_raise(void *ctx, const char *name, const char *version, struct m2m_err *err)
{
	const struct m2m_state *st = ctx;
	struct upd_version want, have;
	json_object *o, *v;
	const char *s;
	int rc;

	if (!name_ok(name))
		return m2m_err_set(err, M2M_ERR_FAILURE, "floor: invalid package name");
	if (!upd_version_parse(version, &want))
		return m2m_err_set(err, M2M_ERR_FAILURE, "floor: invalid version '%.40s'", version);
	rc = load(st, &o, err);
	if (rc)
		return rc;
	if (json_object_object_get_ex(o, name, &v) &&
	    upd_version_parse(json_object_get_string(v), &have) && upd_version_cmp(&want, &have) <= 0) {
		json_object_put(o);
		return M2M_OK; /* never lowered; the same version again changes nothing */
	}
	json_object_object_add(o, name, json_object_new_string(version));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	rc = s ? m2m_state_write(st, UPD_FLOOR_NAME, s, strlen(s), err)
	       : m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	json_object_put(o);
	return rc;
}

const struct upd_floor_ops upd_floor_file_ops = {
	.get = floor_get,
	.raise = floor_raise,
};

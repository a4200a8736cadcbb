/* SPDX-License-Identifier: MIT */
/*
 * What the update engine knows of the versions on this device: the
 * committed version of each package name (update.installed), the firmware
 * that runs and the one committed into each slot (update.firmware: fw_record.c), the
 * anti-rollback floor, and the policy a package is checked against.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "update/engine_int.h"
#include "update/floor.h"
#include "update/fw_record.h"

static int read_json(const struct m2m_state *st, const char *name, json_object **out,
		     struct m2m_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = m2m_state_read(st, name, SMALL_MAX, NULL, NULL, &buf, &len, err);

	*out = NULL;
	if (rc == M2M_ERR_NOT_FOUND) {
		m2m_err_clear(err);
		*out = json_object_new_object();
		return *out ? M2M_OK : m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	if (rc)
		return rc;
	*out = json_tokener_parse(buf);
	free(buf);
	if (!*out || !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: not a JSON object", st->path, name);
	}
	return M2M_OK;
}

int eng_installed_get(const struct m2m_state *st, const char *name, char *out, size_t len,
			 struct m2m_err *err)
{
	json_object *o, *v;
	int rc = read_json(st, INSTALLED_NAME, &o, err);

	out[0] = '\0';
	if (rc)
		return rc;
	if (json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_string))
		snprintf(out, len, "%s", json_object_get_string(v));
	json_object_put(o);
	return M2M_OK;
}

int eng_installed_set(const struct m2m_state *st, const char *name, const char *version,
			 struct m2m_err *err)
{
	json_object *o;
	const char *s;
	int rc = read_json(st, INSTALLED_NAME, &o, err);

	if (rc)
		return rc;
	json_object_object_add(o, name, json_object_new_string(version));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	rc = s ? m2m_state_write(st, INSTALLED_NAME, s, strlen(s), err) :
		 m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	json_object_put(o);
	return rc;
}

int eng_firmware_read(const struct m2m_state *st, struct upd_fw_record *r, struct m2m_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = m2m_state_read(st, FIRMWARE_NAME, SMALL_MAX, NULL, NULL, &buf, &len, err);

	memset(r, 0, sizeof(*r));
	if (rc)
		return rc;
	rc = upd_fw_record_parse(buf, len, r, err);
	free(buf);
	return rc ? m2m_err_prefix(err, "%s/%s", st->path, FIRMWARE_NAME) : M2M_OK;
}

int eng_firmware_write(const struct m2m_state *st, const struct upd_fw_record *r,
		       struct m2m_err *err)
{
	char *s = upd_fw_record_json(r);
	int rc = s ? m2m_state_write(st, FIRMWARE_NAME, s, strlen(s), err) :
		     m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");

	free(s);
	return rc;
}

int eng_firmware_commit(const struct m2m_state *st, const char *name, const char *version,
			const char *slot, int64_t now, struct m2m_err *err)
{
	struct upd_fw_record r;
	struct m2m_err e = { 0 };

	/* none yet, or damaged: this commit starts it afresh (what it said is not known) */
	if (eng_firmware_read(st, &r, &e) != M2M_OK)
		memset(&r, 0, sizeof(r));
	upd_fw_record_commit(&r, name, version, slot, now);
	return eng_firmware_write(st, &r, err);
}

int eng_firmware_forget(const struct m2m_state *st, const char *slot, struct m2m_err *err)
{
	struct upd_fw_record r;
	struct m2m_err e = { 0 };

	if (!slot || !*slot || eng_firmware_read(st, &r, &e) != M2M_OK ||
	    !upd_fw_record_forget(&r, slot))
		return M2M_OK;
	return eng_firmware_write(st, &r, err);
}

int eng_firmware_get(const struct m2m_state *st, char *name, size_t nlen, char *version,
		     size_t vlen, struct m2m_err *err)
{
	struct upd_fw_record r;
	int rc = eng_firmware_read(st, &r, err);

	name[0] = version[0] = '\0';
	if (rc == M2M_ERR_NOT_FOUND || (!rc && !r.run.version[0] && !r.run.slot[0] && !r.fell_back))
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "no firmware package was committed");
	if (rc)
		return rc;
	if (!r.run.version[0])
		return m2m_err_set(err, M2M_ERR_NOT_FOUND,
				   "the firmware slot %s runs is not known (the bootloader fell back "
				   "to it from slot %s)", r.run.slot, r.fell_back ? r.from.slot : "?");
	if (strlen(r.run.name) >= nlen || strlen(r.run.version) >= vlen)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: no room for its name and version",
				   st->path, FIRMWARE_NAME);
	snprintf(name, nlen, "%s", r.run.name);
	snprintf(version, vlen, "%s", r.run.version);
	return M2M_OK;
}

/*
 * The floor after a commit: the committed version, or lower if the config
 * names downgrades below it (update.downgrades), so that a named downgrade
 * stays possible. The floor only ever rises: a downgrade added to the config
 * later (by someone with the disk) cannot lower it.
 */
static int floor_get(void *ctx, const char *name, char *version, size_t len, struct m2m_err *err)
{
	struct m2m_update *u = ctx;

	if (!u->fops && eng_floor_open(u->up, &u->st, &u->fops, &u->fctx, err) != M2M_OK)
		return err->rc;
	return u->fops->get(u->fctx, name, version, len, err);
}

static int floor_raise(void *ctx, const char *name, const char *version, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	struct upd_version v, d, low;
	const char *to = version;

	if (!upd_version_parse(version, &v))
		return m2m_err_set(err, M2M_ERR_FAILURE, "floor: \"%s\" is not a version", version);
	low = v;
	for (char **p = u->up->downgrades; p && *p; p++)
		if (upd_version_parse(*p, &d) && upd_version_cmp(&d, &low) < 0) {
			low = d;
			to = *p;
		}
	if (!u->fops && eng_floor_open(u->up, &u->st, &u->fops, &u->fctx, err) != M2M_OK)
		return err->rc;
	return u->fops->raise(u->fctx, name, to, err);
}

const struct upd_floor_ops eng_floor = { .get = floor_get, .raise = floor_raise };

int eng_floor_open(const struct m2m_update_config *up, const struct m2m_state *st,
		   const struct upd_floor_ops **ops, void **ctx, struct m2m_err *err)
{
	if (!up->floor_tpm) {
		*ops = &upd_floor_file_ops;
		*ctx = (void *)st;
		return M2M_OK;
	}
	*ctx = NULL;
	if (upd_floor_tpm_open(up, ctx, err) != M2M_OK) {
		*ops = NULL;
		return err->rc;
	}
	*ops = &upd_floor_tpm_ops;
	return M2M_OK;
}

void eng_floor_close(const struct upd_floor_ops *ops, void *ctx)
{
	if (ops == &upd_floor_tpm_ops)
		upd_floor_tpm_close(ctx);
}

/* The policy's lookup, once the manifest names the package. */
static int versions(void *ctx, const char *name, char *installed, size_t ilen, char *floor,
		    size_t flen, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	int rc = eng_installed_get(&u->st, name, installed, ilen, err);

	if (!rc)
		rc = floor_get(u, name, floor, flen, err);
	return rc;
}

void eng_policy(struct m2m_update *u, struct upd_policy *pol)
{
	memset(pol, 0, sizeof(*pol));
	pol->trust = u->up->trust;
	pol->model = u->up->model;
	pol->signatures = u->up->signatures;
	pol->downgrades = (const char *const *)u->up->downgrades;
	pol->versions = versions;
	pol->versions_ctx = u;
}


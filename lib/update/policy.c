/* SPDX-License-Identifier: MIT */
/*
 * lib/update: what this device accepts of a genuine package. Every refusal
 * is REFUSED and names what was refused and why, for the Update Result and
 * the technician.
 */
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "update/update.h"

static bool has(const char *s)
{
	return s && *s;
}

int upd_policy_check(const struct upd_policy *pol, const struct upd_manifest *m,
		     struct m2m_err *err)
{
	struct upd_version ver, inst, floor, min;
	int64_t now = pol->now ? pol->now : (int64_t)time(NULL);
	bool model = pol->any_model;

	if (!model && !has(pol->model))
		return m2m_err_set(err, M2M_ERR_REFUSED,
				   "package %s %s: this device has no model (device.model) to match",
				   m->name, m->version);
	for (size_t i = 0; !model && i < m->n_models && i < UPD_MODELS_MAX; i++)
		if (strcmp(m->models[i], pol->model) == 0)
			model = true;
	if (!model)
		return m2m_err_set(err, M2M_ERR_REFUSED,
				   "package %s %s: not for model \"%s\" (it is for \"%s\"%s)", m->name,
				   m->version, pol->model, m->models[0], m->n_models > 1 ? " and others" : "");

	if (!upd_version_parse(m->version, &ver))
		return m2m_err_set(err, M2M_ERR_REFUSED, "package %s: version \"%s\" is not a version",
				   m->name, m->version);
	if (has(pol->floor)) {
		if (!upd_version_parse(pol->floor, &floor))
			return m2m_err_set(err, M2M_ERR_REFUSED,
					   "package %s %s: the lowest acceptable version \"%s\" is not a version",
					   m->name, m->version, pol->floor);
		if (upd_version_cmp(&ver, &floor) < 0)
			return m2m_err_set(err, M2M_ERR_REFUSED,
					   "package %s %s: below the lowest acceptable version %s (anti-rollback)",
					   m->name, m->version, pol->floor);
	}
	if (has(pol->installed)) {
		if (!upd_version_parse(pol->installed, &inst))
			return m2m_err_set(err, M2M_ERR_REFUSED,
					   "package %s %s: the installed version \"%s\" is not a version",
					   m->name, m->version, pol->installed);
		if (upd_version_cmp(&ver, &inst) < 0) {
			bool allowed = false;

			/* the exact string, as configured: "2.1" does not allow "2.1.0" by accident */
			for (const char *const *d = pol->downgrades; d && *d; d++)
				if (strcmp(*d, m->version) == 0)
					allowed = true;
			if (!allowed)
				return m2m_err_set(err, M2M_ERR_REFUSED,
						   "package %s %s: a downgrade from the installed %s, and not one the configuration allows",
						   m->name, m->version, pol->installed);
		}
		if (m->min_installed[0]) {
			if (!upd_version_parse(m->min_installed, &min))
				return m2m_err_set(err, M2M_ERR_REFUSED,
						   "package %s %s: min_installed \"%s\" is not a version",
						   m->name, m->version, m->min_installed);
			if (upd_version_cmp(&inst, &min) < 0)
				return m2m_err_set(err, M2M_ERR_REFUSED,
						   "package %s %s: updates from %s or later, and %s is installed",
						   m->name, m->version, m->min_installed, pol->installed);
		}
	}
	if (now >= m->expires) {
		char when[32] = "?", at[32] = "?";

		m2m_time_utc(m->expires, when, sizeof(when));
		m2m_time_utc(now, at, sizeof(at));
		return m2m_err_set(err, M2M_ERR_REFUSED,
				   "package %s %s: expired at %s (the device's time is %s)", m->name,
				   m->version, when, at);
	}
	return M2M_OK;
}

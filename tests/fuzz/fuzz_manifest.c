/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the update manifest's reader (lib/update/manifest.c) on any
 * bytes (before its signature is checked, a manifest is outside input).
 * Besides not crashing: what it accepts is within the format's bounds, and
 * the canonical writer's text of it reads back the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "update/update.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct upd_manifest m, again;
	struct m2m_err err;
	char *json;

	/* the reader is given exactly size bytes: no terminator to lean on */
	if (upd_manifest_parse((const char *)data, size, &m, &err) != M2M_OK) {
		if (err.rc != M2M_ERR_INTEGRITY && err.rc != M2M_ERR_FAILURE)
			abort();
		return 0;
	}
	if (m.format != 1 || m.n_models < 1 || m.n_models > UPD_MODELS_MAX ||
	    !upd_version_parse(m.version, NULL) || strlen(m.name) < 1 ||
	    (m.min_installed[0] && !upd_version_parse(m.min_installed, NULL)))
		abort();
	json = upd_manifest_json(&m);
	if (!json)
		return 0;
	if (upd_manifest_parse(json, strlen(json), &again, &err) != M2M_OK ||
	    memcmp(&m, &again, sizeof(m)) != 0)
		abort();
	free(json);
	return 0;
}

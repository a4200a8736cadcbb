/* SPDX-License-Identifier: MIT */
/* The test tools' "key=value" words for a key-store reference (ks-cms, upd-pkg). */
#ifndef M2M_TESTS_KEYREF_H
#define M2M_TESTS_KEYREF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "m2m/keystore.h"

/* Apply key=v to ref; false if key is not one of a reference's words. */
static inline bool tool_key_ref_set(struct m2m_key_ref *ref, const char *key, char *v)
{
	if (strcmp(key, "path") == 0)
		ref->path = v;
	else if (strcmp(key, "module") == 0)
		ref->module = v;
	else if (strcmp(key, "token") == 0)
		ref->token = v;
	else if (strcmp(key, "id") == 0)
		ref->id = v;
	else if (strcmp(key, "tcti") == 0)
		ref->tcti = v;
	else if (strcmp(key, "handle") == 0)
		ref->handle = (uint32_t)strtoul(v, NULL, 0);
	else if (strcmp(key, "pinfile") == 0)
		ref->pin = (struct m2m_secret_ref){ .source = M2M_SECRET_FILE, .path = v };
	else if (strcmp(key, "state") == 0)
		m2m_keystore_set_state_dir(v);
	else
		return false;
	return true;
}

#endif

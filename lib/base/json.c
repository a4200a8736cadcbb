/* SPDX-License-Identifier: MIT */
/* JSON objects read the one strict way (base/json.h). */
#include <stdint.h>
#include <string.h>

#include "base/json.h"

json_object *m2m_json_object(const char *buf, size_t len, int depth)
{
	json_tokener *tok;
	json_object *o;

	if (len > INT32_MAX || (len && memchr(buf, '\0', len)))
		return NULL;
	tok = depth > 0 ? json_tokener_new_ex(depth) : json_tokener_new();
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (o && json_tokener_get_error(tok) == json_tokener_success) {
		/* one object, then nothing but white space (a line's CR LF, a file's newline) */
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
			if (!strchr(" \t\r\n", buf[i])) {
				json_object_put(o);
				o = NULL;
				break;
			}
	} else {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

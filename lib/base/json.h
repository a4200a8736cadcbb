/* SPDX-License-Identifier: MIT */
/* Internal to libm2m: JSON read from a file or a peer, through json-c, one way everywhere. */
#ifndef M2M_BASE_JSON_H
#define M2M_BASE_JSON_H

#include <stddef.h>

#include <json-c/json.h>

/*
 * One JSON object from len bytes (need not be NUL-terminated): parsed strictly
 * (RFC 8259, as json-c's strict mode takes it), at most depth levels deep (0:
 * json-c's default of 32), followed by nothing but white space. NULL for
 * anything else: not JSON, not an object, cut short, a NUL byte in it (json-c
 * would stop there and a prefix would be judged), longer than INT32_MAX, no
 * memory. The caller puts what it gets.
 */
json_object *m2m_json_object(const char *buf, size_t len, int depth);

#endif

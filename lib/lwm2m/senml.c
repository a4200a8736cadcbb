/* SPDX-License-Identifier: MIT */
/*
 * SenML (RFC 8428) as LwM2M 1.1 uses it: "bn" and "n" concatenate to a path,
 * one record per resource (instance). JSON through json-c, CBOR through
 * libcbor: the libraries parse, this file only maps records to values.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <json-c/json.h>

#include "lwm2m/lwm2m.h"

/* bigger payloads are refused before a library sees them */
#define SENML_MAX_BYTES (64 * 1024)

/*
 * Base name and each record's name relative to it. bases holds one base per
 * record (stride 1: a composite answer, whose records come from paths of
 * several objects) or one for all (stride 0); a record whose base is not the
 * one before it says its own (RFC 8428 4.1: a base name holds until the next).
 */
struct senml_bases {
	const struct lw_path *b;
	size_t stride;
};

static bool names(const struct lw_records *rs, struct senml_bases bs, size_t i, char *bn,
		  size_t bnlen, char *n, size_t nlen)
{
	const struct lw_path *p = &rs->r[i].path, *base = &bs.b[i * bs.stride];
	size_t o = 0;

	lw_path_format(base, bn, bnlen);
	n[0] = 0;
	if (p->depth > base->depth && base->depth)
		snprintf(bn + strlen(bn), bnlen - strlen(bn), "/");
	for (unsigned d = base->depth; d < p->depth && o < nlen; d++)
		o += (size_t)snprintf(n + o, nlen - o, "%s%u", d > base->depth ? "/" : "",
				      p->id[d]);
	return i == 0 || (bs.stride && (bs.b[i].depth != bs.b[i - 1].depth ||
					 !lw_path_under(&bs.b[i], &bs.b[i - 1])));
}

static int json_encode(const struct lw_records *rs, struct senml_bases bs, struct lw_buf *out)
{
	json_object *arr = json_object_new_array();
	int rc = 0;

	if (!arr)
		return LW_INTERNAL;
	for (size_t i = 0; i < rs->n && !rc; i++) {
		const struct lw_value *v = &rs->r[i].v;
		json_object *rec = json_object_new_object();
		char bn[32], n[32];
		struct lw_buf b = { 0 };

		if (!rec) {
			rc = LW_INTERNAL;
			break;
		}
		if (names(rs, bs, i, bn, sizeof(bn), n, sizeof(n)))
			json_object_object_add(rec, "bn", json_object_new_string(bn));
		if (n[0])
			json_object_object_add(rec, "n", json_object_new_string(n));
		switch (v->type) {
		case LW_STRING:
			json_object_object_add(rec, "vs",
					       json_object_new_string_len((const char *)v->buf,
									  (int)v->len));
			break;
		case LW_INTEGER:
		case LW_TIME:
			json_object_object_add(rec, "v", json_object_new_int64(v->i));
			break;
		case LW_UNSIGNED:
			json_object_object_add(rec, "v", json_object_new_uint64(v->u));
			break;
		case LW_FLOAT:
			json_object_object_add(rec, "v", json_object_new_double(v->f));
			break;
		case LW_BOOLEAN:
			json_object_object_add(rec, "vb", json_object_new_boolean(v->i != 0));
			break;
		case LW_OPAQUE:
			lw_b64_encode(v->buf, v->len, &b);
			json_object_object_add(rec, "vd",
					       json_object_new_string(b.p ? (char *)b.p : ""));
			lw_buf_free(&b);
			break;
		case LW_OBJLNK:
			snprintf(n, sizeof(n), "%u:%u", v->lnk[0], v->lnk[1]);
			json_object_object_add(rec, "vlo", json_object_new_string(n));
			break;
		default:
			rc = LW_INTERNAL;
		}
		json_object_array_add(arr, rec);
	}
	if (!rc) {
		const char *s = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE);

		lw_buf_add(out, s, strlen(s));
		if (out->oom)
			rc = LW_INTERNAL;
	}
	json_object_put(arr);
	return rc;
}

/*
 * Join base name and name, parse as a path, append a record. A value goes to
 * a resource (instance); a name alone (the paths of a Read-Composite) may
 * name an object or an instance too.
 */
static struct lw_record *named(struct lw_records *rs, const char *bn, size_t bnlen,
			       const char *n, size_t nlen, unsigned min_depth)
{
	char name[96];
	struct lw_path p;

	if (bnlen + nlen >= sizeof(name))
		return NULL;
	memcpy(name, bn, bnlen);
	memcpy(name + bnlen, n, nlen);
	name[bnlen + nlen] = 0;
	if (memchr(name, 0, bnlen + nlen))
		return NULL;
	if (!lw_path_parse(name, bnlen + nlen, &p) || p.depth < min_depth)
		return NULL;
	return lw_records_add(rs, &p);
}

static int objlnk(const char *s, size_t len, struct lw_value *v)
{
	struct lw_value t;
	int rc = lw_text_decode((const uint8_t *)s, len, LW_OBJLNK, &t);

	if (!rc) {
		v->type = LW_OBJLNK;
		v->lnk[0] = t.lnk[0];
		v->lnk[1] = t.lnk[1];
	}
	return rc;
}

static int json_decode(const uint8_t *p, size_t len, bool names_only, struct lw_records *rs)
{
	struct json_tokener *tok;
	json_object *arr;
	char bn[64] = "";
	size_t bnlen = 0;
	int rc = 0;

	if (len > SENML_MAX_BYTES)
		return LW_BAD_REQUEST;
	tok = json_tokener_new_ex(16);
	if (!tok)
		return LW_INTERNAL;
	arr = json_tokener_parse_ex(tok, (const char *)p, (int)len);
	if (!arr || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(arr, json_type_array))
		rc = LW_BAD_REQUEST;
	for (size_t i = 0; !rc && i < json_object_array_length(arr); i++) {
		json_object *rec = json_object_array_get_idx(arr, i), *x;
		struct lw_record *r;
		const char *n = "";
		size_t nlen = 0;

		if (!json_object_is_type(rec, json_type_object)) {
			rc = LW_BAD_REQUEST;
			break;
		}
		if (json_object_object_get_ex(rec, "bn", &x)) {
			if (!json_object_is_type(x, json_type_string) ||
			    (size_t)json_object_get_string_len(x) >= sizeof(bn)) {
				rc = LW_BAD_REQUEST;
				break;
			}
			bnlen = (size_t)json_object_get_string_len(x);
			memcpy(bn, json_object_get_string(x), bnlen);
		}
		if (json_object_object_get_ex(rec, "n", &x)) {
			if (!json_object_is_type(x, json_type_string)) {
				rc = LW_BAD_REQUEST;
				break;
			}
			n = json_object_get_string(x);
			nlen = (size_t)json_object_get_string_len(x);
		}
		r = named(rs, bn, bnlen, n, nlen, names_only ? 1 : 3);
		if (!r) {
			rc = LW_BAD_REQUEST;
			break;
		}
		if (names_only) {
			continue;
		} else if (json_object_object_get_ex(rec, "v", &x)) {
			if (json_object_is_type(x, json_type_int)) {
				r->v.type = LW_INTEGER;
				r->v.i = json_object_get_int64(x);
				if (r->v.i == INT64_MAX) {
					r->v.type = LW_UNSIGNED;
					r->v.u = json_object_get_uint64(x);
				}
			} else if (json_object_is_type(x, json_type_double)) {
				r->v.type = LW_FLOAT;
				r->v.f = json_object_get_double(x);
			} else {
				rc = LW_BAD_REQUEST;
			}
		} else if (json_object_object_get_ex(rec, "vs", &x)) {
			if (!json_object_is_type(x, json_type_string) ||
			    !lw_value_set_bytes(&r->v, LW_STRING, json_object_get_string(x),
						(size_t)json_object_get_string_len(x)))
				rc = LW_BAD_REQUEST;
		} else if (json_object_object_get_ex(rec, "vb", &x)) {
			if (!json_object_is_type(x, json_type_boolean))
				rc = LW_BAD_REQUEST;
			r->v.type = LW_BOOLEAN;
			r->v.i = json_object_get_boolean(x);
		} else if (json_object_object_get_ex(rec, "vd", &x)) {
			struct lw_buf b = { 0 };

			if (!json_object_is_type(x, json_type_string))
				rc = LW_BAD_REQUEST;
			else
				rc = lw_b64_decode(json_object_get_string(x),
						   (size_t)json_object_get_string_len(x), &b);
			if (!rc && !lw_value_set_bytes(&r->v, LW_OPAQUE, b.p, b.len))
				rc = LW_INTERNAL;
			lw_buf_free(&b);
		} else if (json_object_object_get_ex(rec, "vlo", &x)) {
			if (!json_object_is_type(x, json_type_string))
				rc = LW_BAD_REQUEST;
			else
				rc = objlnk(json_object_get_string(x),
					    (size_t)json_object_get_string_len(x), &r->v);
		} else {
			rc = LW_BAD_REQUEST; /* a record without a value: not for Write */
		}
	}
	json_object_put(arr);
	json_tokener_free(tok);
	return rc;
}

/* ---- CBOR: labels bn -2, n 0, v 2, vs 3, vb 4, vd 8, and "vlo" ---- */

static void map_add(cbor_item_t *map, cbor_item_t *k, cbor_item_t *v)
{
	cbor_map_add(map, (struct cbor_pair){ .key = cbor_move(k), .value = cbor_move(v) });
}

/* An integer in its shortest form (RFC 8949 4.2.1): a Send on a metered link pays for each byte */
static cbor_item_t *cbor_uint(uint64_t v)
{
	return v <= UINT8_MAX ? cbor_build_uint8((uint8_t)v) :
	       v <= UINT16_MAX ? cbor_build_uint16((uint16_t)v) :
	       v <= UINT32_MAX ? cbor_build_uint32((uint32_t)v) : cbor_build_uint64(v);
}

static cbor_item_t *cbor_negint(uint64_t v)
{
	return v <= UINT8_MAX ? cbor_build_negint8((uint8_t)v) :
	       v <= UINT16_MAX ? cbor_build_negint16((uint16_t)v) :
	       v <= UINT32_MAX ? cbor_build_negint32((uint32_t)v) : cbor_build_negint64(v);
}

static cbor_item_t *label(int l)
{
	return l < 0 ? cbor_build_negint8((uint8_t)(-1 - l)) : cbor_build_uint8((uint8_t)l);
}

static int cbor_encode(const struct lw_records *rs, struct senml_bases bs, struct lw_buf *out)
{
	cbor_item_t *arr = cbor_new_definite_array(rs->n);
	unsigned char *data = NULL;
	size_t size = 0, n;
	int rc = 0;

	if (!arr)
		return LW_INTERNAL;
	for (size_t i = 0; i < rs->n && !rc; i++) {
		const struct lw_value *v = &rs->r[i].v;
		cbor_item_t *rec = cbor_new_definite_map(3);
		char bn[32], nm[32];

		if (!rec) {
			rc = LW_INTERNAL;
			break;
		}
		if (names(rs, bs, i, bn, sizeof(bn), nm, sizeof(nm)))
			map_add(rec, label(-2), cbor_build_string(bn));
		if (nm[0])
			map_add(rec, label(0), cbor_build_string(nm));
		switch (v->type) {
		case LW_STRING:
			map_add(rec, label(3), cbor_build_stringn((const char *)v->buf, v->len));
			break;
		case LW_INTEGER:
		case LW_TIME:
			map_add(rec, label(2), v->i < 0 ? cbor_negint((uint64_t)(-1 - v->i)) :
						 cbor_uint((uint64_t)v->i));
			break;
		case LW_UNSIGNED:
			map_add(rec, label(2), cbor_uint(v->u));
			break;
		case LW_FLOAT:
			map_add(rec, label(2), cbor_build_float8(v->f));
			break;
		case LW_BOOLEAN:
			map_add(rec, label(4), cbor_build_bool(v->i != 0));
			break;
		case LW_OPAQUE:
			map_add(rec, label(8), cbor_build_bytestring(v->buf, v->len));
			break;
		case LW_OBJLNK:
			snprintf(nm, sizeof(nm), "%u:%u", v->lnk[0], v->lnk[1]);
			map_add(rec, cbor_build_string("vlo"), cbor_build_string(nm));
			break;
		default:
			rc = LW_INTERNAL;
		}
		cbor_array_push(arr, cbor_move(rec));
	}
	if (!rc) {
		n = cbor_serialize_alloc(arr, &data, &size);
		if (!n)
			rc = LW_INTERNAL;
		else
			lw_buf_add(out, data, n);
		free(data);
	}
	cbor_decref(&arr);
	return rc ? rc : out->oom ? LW_INTERNAL : 0;
}

int lw_senml_json_encode(const struct lw_records *rs, const struct lw_path *base,
			 struct lw_buf *out)
{
	return json_encode(rs, (struct senml_bases){ base, 0 }, out);
}

int lw_senml_cbor_encode(const struct lw_records *rs, const struct lw_path *base,
			 struct lw_buf *out)
{
	return cbor_encode(rs, (struct senml_bases){ base, 0 }, out);
}

int lw_senml_encode_each(const struct lw_records *rs, const struct lw_path *bases, bool cbor,
			 struct lw_buf *out)
{
	struct senml_bases bs = { bases, 1 };

	return cbor ? cbor_encode(rs, bs, out) : json_encode(rs, bs, out);
}

static bool cbor_text(const cbor_item_t *x, const char **s, size_t *len)
{
	if (!cbor_isa_string(x) || !cbor_string_is_definite(x))
		return false;
	*s = (const char *)cbor_string_handle(x);
	*len = cbor_string_length(x);
	if (!*s)
		*s = "";
	return true;
}

/* The label of a map key: an integer, or -100 for "vlo", -99 otherwise. */
static int cbor_label(const cbor_item_t *k)
{
	const char *s;
	size_t len;

	if (cbor_isa_uint(k) && cbor_get_int(k) < 64)
		return (int)cbor_get_int(k);
	if (cbor_isa_negint(k) && cbor_get_int(k) < 64)
		return -1 - (int)cbor_get_int(k);
	if (cbor_text(k, &s, &len) && len == 3 && memcmp(s, "vlo", 3) == 0)
		return -100;
	return -99;
}

static int cbor_value(const cbor_item_t *x, int l, struct lw_value *v)
{
	const char *s;
	size_t len;

	switch (l) {
	case 2:
		if (cbor_isa_uint(x)) {
			v->type = LW_UNSIGNED;
			v->u = cbor_get_int(x);
			if (v->u <= INT64_MAX) {
				v->type = LW_INTEGER;
				v->i = (int64_t)v->u;
			}
		} else if (cbor_isa_negint(x)) {
			if (cbor_get_int(x) > INT64_MAX)
				return LW_BAD_REQUEST;
			v->type = LW_INTEGER;
			v->i = -1 - (int64_t)cbor_get_int(x);
		} else if (cbor_isa_float_ctrl(x) && !cbor_float_ctrl_is_ctrl(x)) {
			v->type = LW_FLOAT;
			v->f = cbor_float_get_float(x);
		} else {
			return LW_BAD_REQUEST;
		}
		return 0;
	case 3:
		if (!cbor_text(x, &s, &len))
			return LW_BAD_REQUEST;
		return lw_value_set_bytes(v, LW_STRING, s, len) ? 0 : LW_INTERNAL;
	case 4:
		/* libcbor 0.8's cbor_is_bool() asserts on a float: ask for a simple value first */
		if (!cbor_isa_float_ctrl(x) || !cbor_float_ctrl_is_ctrl(x) || !cbor_is_bool(x))
			return LW_BAD_REQUEST;
		v->type = LW_BOOLEAN;
		v->i = cbor_get_bool(x);
		return 0;
	case 8:
		if (!cbor_isa_bytestring(x) || !cbor_bytestring_is_definite(x))
			return LW_BAD_REQUEST;
		return lw_value_set_bytes(v, LW_OPAQUE, cbor_bytestring_handle(x),
					  cbor_bytestring_length(x)) ? 0 : LW_INTERNAL;
	case -100:
		if (!cbor_text(x, &s, &len))
			return LW_BAD_REQUEST;
		return objlnk(s, len, v);
	}
	return LW_BAD_REQUEST;
}

/*
 * Walk the CBOR item headers before libcbor sees them: libcbor 0.8
 * allocates a declared array or map size before reading its items, so a
 * five-byte header could ask for gigabytes. Every declared item must fit in
 * the bytes left, nesting is at most CBOR_MAX_DEPTH, and indefinite lengths
 * (which SenML does not need) are refused.
 */
#define CBOR_MAX_DEPTH 8

static bool cbor_sane(const uint8_t *p, size_t len)
{
	uint64_t left[CBOR_MAX_DEPTH + 1];
	size_t o = 0, depth = 0;

	left[0] = 1;
	while (o < len) {
		uint8_t b = p[o++], major = b >> 5, ai = b & 31;
		uint64_t v = ai, items = 0;
		size_t n = ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : ai == 27 ? 8 : 0;

		if (ai > 27 || len - o < n)
			return false;
		if (n)
			v = 0;
		for (size_t i = 0; i < n; i++)
			v = (v << 8) | p[o++];
		while (depth && !left[depth])
			depth--;
		if (!left[depth])
			return false;
		left[depth]--;
		switch (major) {
		case 2:
		case 3:
			if (v > len - o)
				return false;
			o += (size_t)v;
			break;
		case 4:
		case 5:
		case 6:
			items = major == 4 ? v : major == 5 ? 2 * v : 1;
			if ((major == 5 && v > UINT64_MAX / 2) || items > len - o)
				return false;
			if (items) {
				if (depth == CBOR_MAX_DEPTH)
					return false;
				left[++depth] = items;
			}
			break;
		}
	}
	while (depth && !left[depth])
		depth--;
	return depth == 0 && left[0] == 0;
}

static int cbor_decode(const uint8_t *p, size_t len, bool names_only, struct lw_records *rs)
{
	struct cbor_load_result res;
	cbor_item_t *arr;
	char bn[64] = "";
	size_t bnlen = 0;
	int rc = 0;

	if (len > SENML_MAX_BYTES / 4 || !cbor_sane(p, len))
		return LW_BAD_REQUEST;
	arr = cbor_load(p, len, &res);
	if (!arr)
		return LW_BAD_REQUEST;
	if (res.read != len || !cbor_isa_array(arr) || !cbor_array_is_definite(arr))
		rc = LW_BAD_REQUEST;
	for (size_t i = 0; !rc && i < cbor_array_size(arr); i++) {
		cbor_item_t *rec = cbor_array_handle(arr)[i];
		struct cbor_pair *pairs;
		const cbor_item_t *val = NULL;
		const char *n = "";
		size_t nlen = 0;
		int vl = 0;
		struct lw_record *r;

		if (!cbor_isa_map(rec) || !cbor_map_is_definite(rec)) {
			rc = LW_BAD_REQUEST;
			break;
		}
		pairs = cbor_map_handle(rec);
		for (size_t k = 0; !rc && k < cbor_map_size(rec); k++) {
			int l = cbor_label(pairs[k].key);
			const char *s;
			size_t sl;

			if (l == -2) {
				if (!cbor_text(pairs[k].value, &s, &sl) || sl >= sizeof(bn))
					rc = LW_BAD_REQUEST;
				else
					memcpy(bn, s, bnlen = sl);
			} else if (l == 0) {
				if (!cbor_text(pairs[k].value, &n, &nlen))
					rc = LW_BAD_REQUEST;
			} else if (l == 2 || l == 3 || l == 4 || l == 8 || l == -100) {
				if (val)
					rc = LW_BAD_REQUEST;
				val = pairs[k].value;
				vl = l;
			}
		}
		if (rc)
			break;
		r = named(rs, bn, bnlen, n, nlen, names_only ? 1 : 3);
		if (!r || (!val && !names_only)) {
			rc = LW_BAD_REQUEST;
			break;
		}
		if (!names_only)
			rc = cbor_value(val, vl, &r->v);
	}
	cbor_decref(&arr);
	return rc;
}

int lw_senml_json_decode(const uint8_t *p, size_t len, struct lw_records *rs)
{
	return json_decode(p, len, false, rs);
}

int lw_senml_cbor_decode(const uint8_t *p, size_t len, struct lw_records *rs)
{
	return cbor_decode(p, len, false, rs);
}

int lw_senml_names_decode(const uint8_t *p, size_t len, bool cbor, struct lw_records *rs)
{
	return cbor ? cbor_decode(p, len, true, rs) : json_decode(p, len, true, rs);
}

/* SPDX-License-Identifier: MIT */
/*
 * LwM2M values, paths and the simple codecs: plain text, TLV, base64url,
 * link-format. Every decoder here reads outside input: lengths are checked
 * before every access and nesting is bounded by the format (three levels).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

/* ---- buffers ---- */

static bool buf_grow(struct lw_buf *b, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (b->oom)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 128;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void lw_buf_add(struct lw_buf *b, const void *data, size_t len)
{
	if (!buf_grow(b, len))
		return;
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = 0;
}

void lw_buf_printf(struct lw_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void lw_buf_free(struct lw_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- paths ---- */

bool lw_path_parse(const char *s, size_t len, struct lw_path *p)
{
	size_t i = 0;

	memset(p, 0, sizeof(*p));
	if (len && s[0] == '/')
		i++;
	if (i == len)
		return true;
	while (i < len) {
		unsigned long v = 0;
		size_t start = i;

		if (p->depth == 4)
			return false;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			v = v * 10 + (unsigned long)(s[i] - '0');
			if (v >= LW_ID_NONE)
				return false;
			i++;
		}
		if (i == start)
			return false;
		p->id[p->depth++] = (uint16_t)v;
		if (i < len) {
			if (s[i] != '/' || i + 1 == len)
				return false;
			i++;
		}
	}
	return true;
}

void lw_path_format(const struct lw_path *p, char *out, size_t len)
{
	size_t n = 0;

	if (len)
		out[0] = 0;
	if (!p->depth)
		snprintf(out, len, "/");
	for (unsigned i = 0; i < p->depth && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "/%u", p->id[i]);
}

bool lw_path_under(const struct lw_path *p, const struct lw_path *a)
{
	if (a->depth > p->depth)
		return false;
	for (unsigned i = 0; i < a->depth; i++)
		if (a->id[i] != p->id[i])
			return false;
	return true;
}

/* ---- records and values ---- */

struct lw_record *lw_records_add(struct lw_records *rs, const struct lw_path *p)
{
	struct lw_record *r;

	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;

		/* a bound on what one payload can make us allocate */
		if (cap > 4096)
			return NULL;
		r = realloc(rs->r, cap * sizeof(*r));
		if (!r)
			return NULL;
		rs->r = r;
		rs->cap = cap;
	}
	r = &rs->r[rs->n++];
	memset(r, 0, sizeof(*r));
	r->path = *p;
	return r;
}

void lw_records_free(struct lw_records *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->r[i].v.buf);
	free(rs->r);
	memset(rs, 0, sizeof(*rs));
}

bool lw_value_set_bytes(struct lw_value *v, enum lw_type t, const void *p, size_t len)
{
	free(v->buf);
	v->buf = malloc(len + 1);
	if (!v->buf)
		return false;
	if (len)
		memcpy(v->buf, p, len);
	v->buf[len] = 0;
	v->len = len;
	v->type = t;
	return true;
}

static int64_t be_signed(const uint8_t *p, size_t len)
{
	uint64_t u = p[0] & 0x80 ? UINT64_MAX : 0;

	for (size_t i = 0; i < len; i++)
		u = (u << 8) | p[i];
	return (int64_t)u;
}

static uint64_t be_unsigned(const uint8_t *p, size_t len)
{
	uint64_t u = 0;

	for (size_t i = 0; i < len; i++)
		u = (u << 8) | p[i];
	return u;
}

static int coerce_raw(struct lw_value *v, enum lw_type want)
{
	const uint8_t *p = v->buf;
	size_t n = v->len;

	switch (want) {
	case LW_INTEGER:
	case LW_TIME:
		if (n != 1 && n != 2 && n != 4 && n != 8)
			return LW_BAD_REQUEST;
		v->i = be_signed(p, n);
		break;
	case LW_UNSIGNED:
		if (n != 1 && n != 2 && n != 4 && n != 8)
			return LW_BAD_REQUEST;
		v->u = be_unsigned(p, n);
		break;
	case LW_FLOAT:
		if (n == 4) {
			uint32_t w = (uint32_t)be_unsigned(p, 4);
			float f;

			memcpy(&f, &w, 4);
			v->f = f;
		} else if (n == 8) {
			uint64_t w = be_unsigned(p, 8);

			memcpy(&v->f, &w, 8);
		} else {
			return LW_BAD_REQUEST;
		}
		break;
	case LW_BOOLEAN:
		if (n != 1 || p[0] > 1)
			return LW_BAD_REQUEST;
		v->i = p[0];
		break;
	case LW_OBJLNK:
		if (n != 4)
			return LW_BAD_REQUEST;
		v->lnk[0] = (uint16_t)be_unsigned(p, 2);
		v->lnk[1] = (uint16_t)be_unsigned(p + 2, 2);
		break;
	case LW_STRING:
	case LW_OPAQUE:
		v->type = want;
		return 0;
	default:
		return LW_BAD_REQUEST;
	}
	free(v->buf);
	v->buf = NULL;
	v->len = 0;
	v->type = want;
	return 0;
}

int lw_value_coerce(struct lw_value *v, enum lw_type want)
{
	if (v->type == want)
		return 0;
	if (v->type == LW_RAW)
		return coerce_raw(v, want);
	switch (want) {
	case LW_INTEGER:
	case LW_TIME:
		if (v->type == LW_INTEGER || v->type == LW_TIME) {
			break;
		} else if (v->type == LW_UNSIGNED && v->u <= INT64_MAX) {
			v->i = (int64_t)v->u;
		} else if (v->type == LW_FLOAT && fabs(v->f) < 9.2e18 &&
			   (double)(int64_t)v->f == v->f) {
			v->i = (int64_t)v->f;
		} else {
			return LW_BAD_REQUEST;
		}
		break;
	case LW_UNSIGNED:
		if ((v->type == LW_INTEGER || v->type == LW_TIME) && v->i >= 0)
			v->u = (uint64_t)v->i;
		else if (v->type == LW_FLOAT && v->f >= 0 && v->f < 1.8e19 &&
			 (double)(uint64_t)v->f == v->f)
			v->u = (uint64_t)v->f;
		else
			return LW_BAD_REQUEST;
		break;
	case LW_FLOAT:
		if (v->type == LW_INTEGER || v->type == LW_TIME)
			v->f = (double)v->i;
		else if (v->type == LW_UNSIGNED)
			v->f = (double)v->u;
		else
			return LW_BAD_REQUEST;
		break;
	case LW_OPAQUE:
	case LW_STRING:
		if (v->type != LW_STRING && v->type != LW_OPAQUE)
			return LW_BAD_REQUEST;
		break;
	default:
		return LW_BAD_REQUEST;
	}
	v->type = want;
	return 0;
}

/* ---- plain text ---- */

int lw_text_encode(const struct lw_value *v, struct lw_buf *out)
{
	switch (v->type) {
	case LW_STRING:
		lw_buf_add(out, v->buf, v->len);
		break;
	case LW_INTEGER:
	case LW_TIME:
		lw_buf_printf(out, "%lld", (long long)v->i);
		break;
	case LW_UNSIGNED:
		lw_buf_printf(out, "%llu", (unsigned long long)v->u);
		break;
	case LW_FLOAT:
		lw_buf_printf(out, "%.15g", v->f);
		break;
	case LW_BOOLEAN:
		lw_buf_add(out, v->i ? "1" : "0", 1);
		break;
	case LW_OBJLNK:
		lw_buf_printf(out, "%u:%u", v->lnk[0], v->lnk[1]);
		break;
	case LW_OPAQUE:
		return LW_NOT_ACCEPTABLE;
	default:
		return LW_INTERNAL;
	}
	return out->oom ? LW_INTERNAL : 0;
}

int lw_text_decode(const uint8_t *p, size_t len, enum lw_type t, struct lw_value *v)
{
	char s[64], *end;

	memset(v, 0, sizeof(*v));
	if (t == LW_STRING)
		return lw_value_set_bytes(v, t, p, len) ? 0 : LW_INTERNAL;
	if (len == 0 || len >= sizeof(s) || memchr(p, 0, len))
		return LW_BAD_REQUEST;
	memcpy(s, p, len);
	s[len] = 0;
	errno = 0;
	switch (t) {
	case LW_INTEGER:
	case LW_TIME:
		v->i = strtoll(s, &end, 10);
		break;
	case LW_UNSIGNED:
		if (s[0] == '-')
			return LW_BAD_REQUEST;
		v->u = strtoull(s, &end, 10);
		break;
	case LW_FLOAT:
		v->f = strtod(s, &end);
		if (!isfinite(v->f))
			return LW_BAD_REQUEST;
		break;
	case LW_BOOLEAN:
		if (len != 1 || (s[0] != '0' && s[0] != '1'))
			return LW_BAD_REQUEST;
		v->i = s[0] == '1';
		end = s + 1;
		break;
	case LW_OBJLNK: {
		unsigned long a, b;

		a = strtoul(s, &end, 10);
		if (end == s || *end != ':' || a >= LW_ID_NONE)
			return LW_BAD_REQUEST;
		b = strtoul(end + 1, &end, 10);
		if (b >= LW_ID_NONE)
			return LW_BAD_REQUEST;
		v->lnk[0] = (uint16_t)a;
		v->lnk[1] = (uint16_t)b;
		break;
	}
	default:
		return LW_BAD_REQUEST;
	}
	if (errno || *end || end == s)
		return LW_BAD_REQUEST;
	v->type = t;
	return 0;
}

/* ---- TLV (OMA-TS-LightweightM2M-V1_1 Core 7.4.3) ---- */

enum { TLV_INSTANCE = 0, TLV_RES_INSTANCE = 1, TLV_MULTIPLE = 2, TLV_RESOURCE = 3 };

static void tlv_header(struct lw_buf *out, int kind, uint16_t id, size_t len)
{
	uint8_t h[6];
	size_t n = 1;

	h[0] = (uint8_t)(kind << 6);
	if (id > 0xff) {
		h[0] |= 0x20;
		h[n++] = (uint8_t)(id >> 8);
	}
	h[n++] = (uint8_t)id;
	if (len < 8) {
		h[0] |= (uint8_t)len;
	} else if (len <= 0xff) {
		h[0] |= 0x08;
		h[n++] = (uint8_t)len;
	} else if (len <= 0xffff) {
		h[0] |= 0x10;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else {
		h[0] |= 0x18;
		h[n++] = (uint8_t)(len >> 16);
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	}
	lw_buf_add(out, h, n);
}

static int tlv_value(const struct lw_value *v, struct lw_buf *out)
{
	uint8_t b[8];
	size_t n;
	uint64_t w;

	switch (v->type) {
	case LW_STRING:
	case LW_OPAQUE:
		lw_buf_add(out, v->buf, v->len);
		return 0;
	case LW_INTEGER:
	case LW_TIME:
	case LW_UNSIGNED:
		if (v->type == LW_UNSIGNED && v->u > INT64_MAX) {
			w = v->u;
			n = 8;
		} else {
			int64_t i = v->type == LW_UNSIGNED ? (int64_t)v->u : v->i;

			w = (uint64_t)i;
			n = i >= INT8_MIN && i <= INT8_MAX ? 1 :
			    i >= INT16_MIN && i <= INT16_MAX ? 2 :
			    i >= INT32_MIN && i <= INT32_MAX ? 4 : 8;
		}
		break;
	case LW_FLOAT:
		memcpy(&w, &v->f, 8);
		n = 8;
		break;
	case LW_BOOLEAN:
		w = v->i ? 1 : 0;
		n = 1;
		break;
	case LW_OBJLNK:
		w = ((uint64_t)v->lnk[0] << 16) | v->lnk[1];
		n = 4;
		break;
	default:
		return LW_INTERNAL;
	}
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(w >> (8 * (n - 1 - i)));
	lw_buf_add(out, b, n);
	return 0;
}

/* Encode the records from index *i on that share path prefix of depth d. */
static int tlv_level(const struct lw_records *rs, size_t *i, unsigned d, struct lw_buf *out)
{
	const struct lw_record *r = &rs->r[*i];
	struct lw_buf inner = { 0 };
	int kind, rc = 0;
	uint16_t id = r->path.id[d];

	if (d == 1) {
		kind = TLV_INSTANCE;
	} else if (d == 2) {
		kind = r->path.depth == 4 ? TLV_MULTIPLE : TLV_RESOURCE;
	} else {
		kind = TLV_RES_INSTANCE;
	}
	if (kind == TLV_RESOURCE || kind == TLV_RES_INSTANCE) {
		rc = tlv_value(&r->v, &inner);
		(*i)++;
	} else {
		while (!rc && *i < rs->n && rs->r[*i].path.depth > d &&
		       rs->r[*i].path.id[d] == id && (d == 0 || rs->r[*i].path.id[d - 1] == r->path.id[d - 1]))
			rc = tlv_level(rs, i, d + 1, &inner);
	}
	if (!rc) {
		tlv_header(out, kind, id, inner.len);
		lw_buf_add(out, inner.p, inner.len);
	}
	lw_buf_free(&inner);
	return rc ? rc : out->oom ? LW_INTERNAL : 0;
}

int lw_tlv_encode(const struct lw_records *rs, const struct lw_path *base, struct lw_buf *out)
{
	/* an object read lists instances; below that, the level of the base */
	unsigned d = base->depth <= 1 ? 1 : 2;
	size_t i = 0;
	int rc = 0;

	if (base->depth == 3 && rs->n == 1 && rs->r[0].path.depth == 3)
		d = 2;
	else if (base->depth >= 3)
		d = base->depth == 4 ? 3 : 2;
	while (!rc && i < rs->n)
		rc = tlv_level(rs, &i, d, out);
	lw_buf_add(out, "", 0);
	return rc;
}

/* Decode the TLVs in p[0..len) into path prefix cur; kind_ok: which kinds may appear. */
static int tlv_list(const uint8_t *p, size_t len, struct lw_path cur, unsigned kind_ok,
		    struct lw_records *rs)
{
	size_t o = 0;

	while (o < len) {
		uint8_t h = p[o++];
		int kind = h >> 6, idx;
		size_t idlen = h & 0x20 ? 2 : 1, lt = (h >> 3) & 3, vlen;
		uint16_t id;

		if (!(kind_ok & (1u << kind)) || len - o < idlen + lt)
			return LW_BAD_REQUEST;
		id = (uint16_t)be_unsigned(p + o, idlen);
		o += idlen;
		vlen = lt ? (size_t)be_unsigned(p + o, lt) : (h & 7);
		o += lt;
		if (vlen > len - o || id == LW_ID_NONE)
			return LW_BAD_REQUEST;
		idx = kind == TLV_INSTANCE ? 1 : kind == TLV_RES_INSTANCE ? 3 : 2;
		cur.id[idx] = id;
		cur.depth = (uint8_t)(idx + 1);
		if (kind == TLV_INSTANCE || kind == TLV_MULTIPLE) {
			int rc = tlv_list(p + o, vlen, cur,
					  kind == TLV_INSTANCE ?
					  (1u << TLV_RESOURCE) | (1u << TLV_MULTIPLE) :
					  (1u << TLV_RES_INSTANCE), rs);
			if (rc)
				return rc;
		} else {
			struct lw_record *r = lw_records_add(rs, &cur);

			if (!r || !lw_value_set_bytes(&r->v, LW_RAW, p + o, vlen))
				return LW_INTERNAL;
		}
		o += vlen;
	}
	return 0;
}

int lw_tlv_decode(const uint8_t *p, size_t len, const struct lw_path *base,
		  struct lw_records *rs)
{
	unsigned ok;

	switch (base->depth) {
	case 1:
		ok = (1u << TLV_INSTANCE) | (1u << TLV_RESOURCE) | (1u << TLV_MULTIPLE);
		break;
	case 2:
		ok = (1u << TLV_RESOURCE) | (1u << TLV_MULTIPLE);
		break;
	case 3:
		ok = (1u << TLV_RESOURCE) | (1u << TLV_MULTIPLE) | (1u << TLV_RES_INSTANCE);
		break;
	case 4:
		ok = 1u << TLV_RES_INSTANCE;
		break;
	default:
		return LW_BAD_REQUEST;
	}
	/* resources straight under an object write: instance 0 is not assumed */
	if (base->depth == 1)
		ok = 1u << TLV_INSTANCE;
	return tlv_list(p, len, *base, ok, rs);
}

/* ---- base64url (RFC 4648 section 5), no padding on output ---- */

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void lw_b64_encode(const uint8_t *p, size_t len, struct lw_buf *out)
{
	for (size_t i = 0; i < len; i += 3) {
		uint32_t w = (uint32_t)p[i] << 16;
		char c[4];
		size_t n = 2;

		if (i + 1 < len) {
			w |= (uint32_t)p[i + 1] << 8;
			n++;
		}
		if (i + 2 < len) {
			w |= p[i + 2];
			n++;
		}
		for (int k = 0; k < 4; k++)
			c[k] = b64url[(w >> (18 - 6 * k)) & 63];
		lw_buf_add(out, c, n);
	}
	lw_buf_add(out, "", 0);
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

/* Accepts both alphabets and optional padding: servers differ. */
int lw_b64_decode(const char *s, size_t len, struct lw_buf *out)
{
	uint32_t w = 0;
	unsigned bits = 0;

	while (len && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return LW_BAD_REQUEST;
	for (size_t i = 0; i < len; i++) {
		int v = b64_val(s[i]);
		uint8_t byte;

		if (v < 0)
			return LW_BAD_REQUEST;
		w = (w << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			byte = (uint8_t)(w >> bits);
			lw_buf_add(out, &byte, 1);
		}
	}
	lw_buf_add(out, "", 0);
	return out->oom ? LW_INTERNAL : 0;
}

/* ---- link-format (RFC 6690), as far as LwM2M uses it ---- */

int lw_link_decode(const uint8_t *p, size_t len, struct lw_link *links, size_t max,
		   size_t *n)
{
	size_t o = 0;

	*n = 0;
	while (o < len) {
		struct lw_link l = { 0 };
		size_t start, alen = 0;
		bool quoted = false;

		if (p[o] != '<')
			return LW_BAD_REQUEST;
		start = ++o;
		while (o < len && p[o] != '>')
			o++;
		if (o == len || !lw_path_parse((const char *)p + start, o - start, &l.path))
			return LW_BAD_REQUEST;
		o++;
		/* attributes up to the next ',' outside quotes */
		while (o < len && (quoted || p[o] != ',')) {
			if (p[o] == '"')
				quoted = !quoted;
			if (p[o] < 0x20 || p[o] == 0x7f)
				return LW_BAD_REQUEST;
			if (alen || p[o] != ';') {
				if (alen + 1 >= sizeof(l.attrs))
					return LW_BAD_REQUEST;
				l.attrs[alen++] = (char)p[o];
			}
			if (!alen && p[o] != ';')
				return LW_BAD_REQUEST;
			o++;
		}
		if (quoted)
			return LW_BAD_REQUEST;
		if (o < len) {
			o++; /* ',' */
			if (o == len)
				return LW_BAD_REQUEST;
		}
		if (*n == max)
			return LW_BAD_REQUEST;
		links[(*n)++] = l;
	}
	return 0;
}

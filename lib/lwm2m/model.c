/* SPDX-License-Identifier: MIT */
/*
 * The LwM2M data model and the device management operations on it: Read,
 * Write (replace or partial update), Execute, Discover, Write-Attributes.
 * Objects provide callbacks; this file walks paths, checks operations
 * against each resource's definition and converts values to its type.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

int lw_registry_add(struct lw_registry *reg, struct lw_object *o)
{
	if (reg->n == LW_MAX_OBJ || lw_registry_find(reg, o->id))
		return LW_INTERNAL;
	reg->obj[reg->n++] = o;
	return 0;
}

struct lw_object *lw_registry_find(struct lw_registry *reg, uint16_t id)
{
	for (size_t i = 0; i < reg->n; i++)
		if (reg->obj[i]->id == id)
			return reg->obj[i];
	return NULL;
}

const struct lw_res_def *lw_res_find(const struct lw_object *o, uint16_t id)
{
	for (size_t i = 0; i < o->n_res; i++)
		if (o->res[i].id == id)
			return &o->res[i];
	return NULL;
}

bool lw_inst_exists(const struct lw_object *o, uint16_t inst)
{
	for (size_t i = 0; i < o->n_inst; i++)
		if (o->inst[i] == inst)
			return true;
	return false;
}

void lw_register_links(struct lw_registry *reg, struct lw_buf *out)
{
	lw_buf_printf(out, "</>;rt=\"oma.lwm2m\";ct=110");
	for (size_t i = 0; i < reg->n; i++) {
		const struct lw_object *o = reg->obj[i];

		if (o->hidden)
			continue;
		if (o->version)
			lw_buf_printf(out, ",</%u>;ver=%s", o->id, o->version);
		else if (!o->n_inst)
			lw_buf_printf(out, ",</%u>", o->id);
		for (size_t k = 0; k < o->n_inst; k++)
			lw_buf_printf(out, ",</%u/%u>", o->id, o->inst[k]);
	}
}

/* Read one resource (all its instances) into out. */
static int read_res(struct lw_object *o, uint16_t inst, const struct lw_res_def *d, int only_ri,
		    struct lw_records *out)
{
	struct lw_path p = { { o->id, inst, d->id, 0 }, 3 };
	int n = 1;

	if (d->multiple) {
		n = o->ops->count ? o->ops->count(o, inst, d->id) : 0;
		p.depth = 4;
	}
	for (int ri = 0; ri < n; ri++) {
		struct lw_value v = { 0 };
		struct lw_record *r;
		int rc;

		if (only_ri >= 0 && ri != only_ri)
			continue;
		rc = o->ops->read(o, inst, d->id, (uint16_t)ri, &v);
		if (rc)
			return rc;
		p.id[3] = (uint16_t)ri;
		r = lw_records_add(out, &p);
		if (!r)
			return LW_INTERNAL;
		r->v = v;
		r->v.buf = NULL;
		if ((v.type == LW_STRING || v.type == LW_OPAQUE) &&
		    !lw_value_set_bytes(&r->v, v.type, v.buf, v.len))
			return LW_INTERNAL;
	}
	if (only_ri >= 0 && only_ri >= n)
		return LW_NOT_FOUND;
	return 0;
}

static int read_inst(struct lw_object *o, uint16_t inst, struct lw_records *out)
{
	for (size_t i = 0; i < o->n_res; i++) {
		int rc;

		if (!(o->res[i].ops & LW_OP_R))
			continue;
		rc = read_res(o, inst, &o->res[i], -1, out);
		/* an optional resource the system does not have is left out */
		if (rc == LW_NOT_FOUND)
			continue;
		if (rc)
			return rc;
	}
	return 0;
}

int lw_read(struct lw_registry *reg, const struct lw_path *p, struct lw_records *out)
{
	struct lw_object *o;
	const struct lw_res_def *d;

	if (p->depth == 0)
		return LW_NOT_ALLOWED;
	o = lw_registry_find(reg, p->id[0]);
	if (!o || o->hidden)
		return o ? LW_UNAUTHORIZED : LW_NOT_FOUND;
	if (p->depth == 1) {
		for (size_t i = 0; i < o->n_inst; i++) {
			int rc = read_inst(o, o->inst[i], out);

			if (rc)
				return rc;
		}
		return 0;
	}
	if (!lw_inst_exists(o, p->id[1]))
		return LW_NOT_FOUND;
	if (p->depth == 2)
		return read_inst(o, p->id[1], out);
	d = lw_res_find(o, p->id[2]);
	if (!d)
		return LW_NOT_FOUND;
	if (!(d->ops & LW_OP_R))
		return LW_NOT_ALLOWED;
	if (p->depth == 4 && !d->multiple)
		return LW_NOT_FOUND;
	return read_res(o, p->id[1], d, p->depth == 4 ? p->id[3] : -1, out);
}

/* The resource a record writes: it exists and may be written. */
static int write_target(struct lw_registry *reg, const struct lw_record *r, struct lw_object **o,
			const struct lw_res_def **d)
{
	*o = lw_registry_find(reg, r->path.id[0]);
	if (!*o || (*o)->hidden)
		return *o ? LW_UNAUTHORIZED : LW_NOT_FOUND;
	if (!lw_inst_exists(*o, r->path.id[1]))
		return LW_NOT_FOUND;
	*d = lw_res_find(*o, r->path.id[2]);
	if (!*d)
		return LW_NOT_FOUND;
	if (!((*d)->ops & LW_OP_W))
		return LW_NOT_ALLOWED;
	if (r->path.depth == 4 && !(*d)->multiple)
		return LW_BAD_REQUEST;
	return 0;
}

/*
 * Every value checked by its object first, then all applied: a write applies
 * completely or not at all. The records' targets were checked (write_target).
 */
static int write_all(struct lw_registry *reg, const struct lw_records *in)
{
	for (int apply = 0; apply <= 1; apply++) {
		for (size_t i = 0; i < in->n; i++) {
			struct lw_record r = in->r[i];
			struct lw_object *o;
			const struct lw_res_def *d;
			int rc = write_target(reg, &r, &o, &d);

			if (rc)
				return rc;
			/* coerce a copy; the caller's records stay as decoded */
			if (r.v.buf) {
				uint8_t *b = r.v.buf;

				r.v.buf = NULL;
				if (!lw_value_set_bytes(&r.v, r.v.type, b, r.v.len))
					return LW_INTERNAL;
			}
			rc = lw_value_coerce(&r.v, d->type);
			if (!rc)
				rc = o->ops->write ? o->ops->write(o, r.path.id[1], d->id, &r.v, apply) :
						     LW_NOT_ALLOWED;
			free(r.v.buf);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int lw_write(struct lw_registry *reg, const struct lw_path *p, const struct lw_records *in,
	     bool replace)
{
	struct lw_object *o;
	const struct lw_res_def *d;

	if (p->depth < 2)
		return LW_NOT_ALLOWED; /* Write on an object: only from bootstrap */
	o = lw_registry_find(reg, p->id[0]);
	if (!o || o->hidden)
		return o ? LW_UNAUTHORIZED : LW_NOT_FOUND;
	if (!lw_inst_exists(o, p->id[1]))
		return LW_NOT_FOUND;
	if (!in->n)
		return LW_BAD_REQUEST;
	for (size_t i = 0; i < in->n; i++) {
		int rc;

		if (!lw_path_under(&in->r[i].path, p) || in->r[i].path.depth < 3)
			return LW_BAD_REQUEST;
		rc = write_target(reg, &in->r[i], &o, &d);
		if (rc)
			return rc;
	}
	(void)replace; /* single-instance resources: replace and update coincide */
	return write_all(reg, in);
}

int lw_write_composite(struct lw_registry *reg, const struct lw_records *in)
{
	struct lw_object *o;
	const struct lw_res_def *d;

	if (!in->n)
		return LW_BAD_REQUEST;
	for (size_t i = 0; i < in->n; i++) {
		int rc = in->r[i].path.depth < 3 ? LW_BAD_REQUEST :
			 write_target(reg, &in->r[i], &o, &d);

		if (rc)
			return rc;
	}
	return write_all(reg, in);
}

int lw_execute(struct lw_registry *reg, const struct lw_path *p, const uint8_t *arg,
	       size_t len)
{
	struct lw_object *o;
	const struct lw_res_def *d;

	if (p->depth != 3)
		return LW_NOT_ALLOWED;
	o = lw_registry_find(reg, p->id[0]);
	if (!o || o->hidden)
		return o ? LW_UNAUTHORIZED : LW_NOT_FOUND;
	if (!lw_inst_exists(o, p->id[1]))
		return LW_NOT_FOUND;
	d = lw_res_find(o, p->id[2]);
	if (!d)
		return LW_NOT_FOUND;
	if (!(d->ops & LW_OP_E) || !o->ops->exec)
		return LW_NOT_ALLOWED;
	return o->ops->exec(o, p->id[1], d->id, arg, len);
}

/*
 * ";gt=123456789": an attribute's number as it was written, not rounded the
 * way %g rounds it (1.23457e+08): the fewest significant digits that read
 * back as the same double, 17 at most (enough for any; C11 DBL_DECIMAL_DIG).
 */
static void attr_num(struct lw_buf *out, const char *name, double v)
{
	char s[40];

	for (int prec = 1; prec <= 17; prec++) {
		snprintf(s, sizeof(s), "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			break;
	}
	lw_buf_printf(out, ";%s=%s", name, s);
}

static void attrs_links(const struct lw_registry *reg, const struct lw_path *p,
			struct lw_buf *out)
{
	for (size_t i = 0; i < reg->n_attrs; i++) {
		const struct lw_attrs *a = &reg->attrs[i];

		if (a->path.depth != p->depth || !lw_path_under(&a->path, p))
			continue;
		if (a->set & LW_A_PMIN)
			lw_buf_printf(out, ";pmin=%u", a->pmin);
		if (a->set & LW_A_PMAX)
			lw_buf_printf(out, ";pmax=%u", a->pmax);
		if (a->set & LW_A_GT)
			attr_num(out, "gt", a->gt);
		if (a->set & LW_A_LT)
			attr_num(out, "lt", a->lt);
		if (a->set & LW_A_ST)
			attr_num(out, "st", a->st);
	}
}

static void discover_inst(struct lw_registry *reg, struct lw_object *o, uint16_t inst,
			  struct lw_buf *out)
{
	for (size_t i = 0; i < o->n_res; i++) {
		const struct lw_res_def *d = &o->res[i];
		struct lw_path rp = { { o->id, inst, d->id, 0 }, 3 };

		if ((d->ops & LW_OP_R) && !d->multiple) {
			struct lw_value v = { 0 };

			/* leave out optional resources the system does not have */
			if (o->ops->read(o, inst, d->id, 0, &v) == LW_NOT_FOUND)
				continue;
		}
		lw_buf_printf(out, ",</%u/%u/%u>", o->id, inst, d->id);
		if (d->multiple && o->ops->count)
			lw_buf_printf(out, ";dim=%d", o->ops->count(o, inst, d->id));
		attrs_links(reg, &rp, out);
	}
}

int lw_discover(struct lw_registry *reg, const struct lw_path *p, struct lw_buf *out)
{
	struct lw_object *o;
	size_t start = out->len;

	if (p->depth == 0 || p->depth > 3)
		return LW_BAD_REQUEST;
	o = lw_registry_find(reg, p->id[0]);
	if (!o || o->hidden)
		return o ? LW_UNAUTHORIZED : LW_NOT_FOUND;
	if (p->depth >= 2 && !lw_inst_exists(o, p->id[1]))
		return LW_NOT_FOUND;
	if (p->depth == 3 && !lw_res_find(o, p->id[2]))
		return LW_NOT_FOUND;
	if (p->depth == 1) {
		lw_buf_printf(out, "</%u>", o->id);
		if (o->version)
			lw_buf_printf(out, ";ver=%s", o->version);
		attrs_links(reg, p, out);
		for (size_t i = 0; i < o->n_inst; i++) {
			struct lw_path ip = { { o->id, o->inst[i], 0, 0 }, 2 };

			lw_buf_printf(out, ",</%u/%u>", o->id, o->inst[i]);
			attrs_links(reg, &ip, out);
			discover_inst(reg, o, o->inst[i], out);
		}
	} else if (p->depth == 2) {
		lw_buf_printf(out, "</%u/%u>", o->id, p->id[1]);
		attrs_links(reg, p, out);
		discover_inst(reg, o, p->id[1], out);
	} else {
		const struct lw_res_def *d = lw_res_find(o, p->id[2]);

		lw_buf_printf(out, "</%u/%u/%u>", o->id, p->id[1], p->id[2]);
		if (d->multiple && o->ops->count)
			lw_buf_printf(out, ";dim=%d", o->ops->count(o, p->id[1], d->id));
		attrs_links(reg, p, out);
	}
	return out->oom || out->len == start ? LW_INTERNAL : 0;
}

/*
 * An attribute's number: decimal, with a fraction and an exponent if need be
 * ("1e308"), a sign where allowed; never inf, nan or hex (strtod takes them).
 */
static bool parse_num(const char *s, size_t len, bool sign, double *out)
{
	char b[32], *end;

	if (!len || len >= sizeof(b))
		return false;
	memcpy(b, s, len);
	b[len] = 0;
	if (!strchr("0123456789", b[sign && b[0] == '-' ? 1 : 0]) || strpbrk(b, "xXnN"))
		return false;
	*out = strtod(b, &end);
	return *end == 0 && isfinite(*out);
}

int lw_write_attrs(struct lw_registry *reg, const struct lw_path *p, const char *query,
		   size_t len)
{
	struct lw_records probe = { 0 };
	int rc;

	if (p->depth == 0)
		return LW_BAD_REQUEST;
	/* the path must exist (executables too: a read of them is only not allowed) */
	rc = lw_read(reg, p, &probe);
	lw_records_free(&probe);
	/* a resource that cannot be read (an executable: 4.05) may still have attributes */
	if (rc && rc != LW_NOT_ALLOWED)
		return rc;
	/* gt, lt and st: for numeric resources only (LwM2M 1.1 5.1.2) */
	if (p->depth >= 3) {
		const struct lw_object *o = lw_registry_find(reg, p->id[0]);
		const struct lw_res_def *d = o ? lw_res_find(o, p->id[2]) : NULL;
		bool numeric = d && (d->type == LW_INTEGER || d->type == LW_UNSIGNED ||
				     d->type == LW_FLOAT);

		for (size_t i = 0; i < len && !numeric; i++)
			if ((i == 0 || query[i - 1] == '&') && i + 2 <= len &&
			    (!memcmp(query + i, "gt", 2) || !memcmp(query + i, "lt", 2) ||
			     !memcmp(query + i, "st", 2)) &&
			    (i + 2 == len || query[i + 2] == '=' || query[i + 2] == '&'))
				return LW_BAD_REQUEST;
	}
	return lw_attrs_store(reg, p, query, len);
}

int lw_attrs_store(struct lw_registry *reg, const struct lw_path *p, const char *query,
		   size_t len)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "pmin", LW_A_PMIN }, { "pmax", LW_A_PMAX }, { "gt", LW_A_GT },
		{ "lt", LW_A_LT }, { "st", LW_A_ST },
	};
	struct lw_attrs a = { .path = *p }, *slot = NULL;
	unsigned clear = 0;
	size_t o = 0;

	if (p->depth == 0)
		return LW_BAD_REQUEST;
	for (size_t i = 0; i < reg->n_attrs; i++)
		if (reg->attrs[i].path.depth == p->depth && lw_path_under(&reg->attrs[i].path, p))
			slot = &reg->attrs[i];
	if (slot)
		a = *slot;
	while (o < len) {
		size_t end = o, eq;
		double v = 0;
		unsigned bit = 0;

		while (end < len && query[end] != '&')
			end++;
		for (eq = o; eq < end && query[eq] != '='; eq++)
			;
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (eq - o == strlen(names[k].name) &&
			    memcmp(query + o, names[k].name, eq - o) == 0)
				bit = names[k].bit;
		if (!bit && end == o) {
			o = end + 1; /* an empty one ("a=1&") */
			continue;
		}
		if (!bit) {
			/*
			 * epmin, epmax, con and others of 1.1/1.2 are not applied:
			 * refused, rather than taken as if they were
			 */
			return LW_BAD_REQUEST;
		}
		if (eq == end) {
			clear |= bit; /* "pmin" alone removes it */
		} else {
			/* gt and lt may be negative (a signal strength in dBm) */
			if (!parse_num(query + eq + 1, end - eq - 1,
				       bit == LW_A_GT || bit == LW_A_LT, &v) ||
			    ((bit == LW_A_PMIN || bit == LW_A_PMAX) && v > 86400 * 365.0))
				return LW_BAD_REQUEST;
			a.set |= bit;
			clear &= ~bit;
			switch (bit) {
			case LW_A_PMIN: a.pmin = (unsigned)v; break;
			case LW_A_PMAX: a.pmax = (unsigned)v; break;
			case LW_A_GT: a.gt = v; break;
			case LW_A_LT: a.lt = v; break;
			case LW_A_ST: a.st = v; break;
			}
		}
		o = end + 1;
	}
	a.set &= ~clear;
	/* LwM2M 1.1 5.1.2: lt < gt, and lt + 2 st < gt when all three are set */
	if ((a.set & (LW_A_GT | LW_A_LT)) == (LW_A_GT | LW_A_LT) &&
	    (a.lt >= a.gt || ((a.set & LW_A_ST) && a.lt + 2 * a.st >= a.gt)))
		return LW_BAD_REQUEST;
	if ((a.set & (LW_A_PMIN | LW_A_PMAX)) == (LW_A_PMIN | LW_A_PMAX) && a.pmax < a.pmin)
		return LW_BAD_REQUEST;
	if ((a.set & (LW_A_GT | LW_A_LT | LW_A_ST)) && p->depth < 3)
		return LW_BAD_REQUEST;
	if (!slot) {
		if (reg->n_attrs == LW_MAX_ATTRS)
			return LW_INTERNAL;
		slot = &reg->attrs[reg->n_attrs++];
	}
	*slot = a;
	return 0;
}

unsigned lw_attrs_get(const struct lw_registry *reg, const struct lw_path *p,
		      struct lw_attrs *out)
{
	memset(out, 0, sizeof(*out));
	out->path = *p;
	/* the more specific level wins, attribute by attribute */
	for (unsigned depth = 1; depth <= p->depth; depth++) {
		for (size_t i = 0; i < reg->n_attrs; i++) {
			const struct lw_attrs *a = &reg->attrs[i];

			if (a->path.depth != depth || !lw_path_under(p, &a->path))
				continue;
			if (a->set & LW_A_PMIN)
				out->pmin = a->pmin;
			if (a->set & LW_A_PMAX)
				out->pmax = a->pmax;
			if (a->set & LW_A_GT)
				out->gt = a->gt;
			if (a->set & LW_A_LT)
				out->lt = a->lt;
			if (a->set & LW_A_ST)
				out->st = a->st;
			out->set |= a->set;
		}
	}
	return out->set;
}

int lw_encode(const struct lw_records *rs, const struct lw_path *base, unsigned fmt,
	      struct lw_buf *out, unsigned *used)
{
	bool single = rs->n == 1 && rs->r[0].path.depth == base->depth && base->depth >= 3;

	if (fmt == LW_FMT_NONE)
		fmt = single ? (rs->r[0].v.type == LW_OPAQUE ? LW_FMT_OPAQUE : LW_FMT_TEXT) :
			       LW_FMT_SENML_JSON;
	*used = fmt;
	switch (fmt) {
	case LW_FMT_TEXT:
		if (!single)
			return LW_NOT_ACCEPTABLE;
		return lw_text_encode(&rs->r[0].v, out);
	case LW_FMT_OPAQUE:
		if (!single || rs->r[0].v.type != LW_OPAQUE)
			return LW_NOT_ACCEPTABLE;
		lw_buf_add(out, rs->r[0].v.buf, rs->r[0].v.len);
		return out->oom ? LW_INTERNAL : 0;
	case LW_FMT_TLV:
		return lw_tlv_encode(rs, base, out);
	case LW_FMT_SENML_JSON:
		return lw_senml_json_encode(rs, base, out);
	case LW_FMT_SENML_CBOR:
		return lw_senml_cbor_encode(rs, base, out);
	}
	return LW_NOT_ACCEPTABLE;
}

int lw_decode(struct lw_registry *reg, const struct lw_path *p, unsigned fmt,
	      const uint8_t *data, size_t len, struct lw_records *out)
{
	struct lw_object *o;
	const struct lw_res_def *d;
	struct lw_record *r;
	int rc;

	switch (fmt) {
	case LW_FMT_TLV:
		return lw_tlv_decode(data, len, p, out);
	case LW_FMT_SENML_JSON:
		return lw_senml_json_decode(data, len, out);
	case LW_FMT_SENML_CBOR:
		return lw_senml_cbor_decode(data, len, out);
	case LW_FMT_TEXT:
	case LW_FMT_OPAQUE:
	case LW_FMT_NONE:
		break;
	default:
		return LW_UNSUPPORTED_CF;
	}
	/* text and opaque carry one value: the resource's type says how to read it */
	if (p->depth < 3)
		return LW_BAD_REQUEST;
	o = lw_registry_find(reg, p->id[0]);
	d = o ? lw_res_find(o, p->id[2]) : NULL;
	if (!d)
		return LW_NOT_FOUND;
	r = lw_records_add(out, p);
	if (!r)
		return LW_INTERNAL;
	if (fmt == LW_FMT_OPAQUE) {
		if (d->type != LW_OPAQUE)
			return LW_UNSUPPORTED_CF;
		return lw_value_set_bytes(&r->v, LW_OPAQUE, data, len) ? 0 : LW_INTERNAL;
	}
	rc = lw_text_decode(data, len, d->type, &r->v);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * The LwM2M client's answers to the server's requests (the device
 * management and information reporting interfaces: Read, Discover, Observe
 * and its cancel, Write, Write-Attributes, Execute, and LwM2M 1.1's
 * Read-Composite and Write-Composite on the root path) on the objects, bound to
 * lib/coap by client.c; and the notifications libcoap reports failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "lwm2m/dm_int.h"

static unsigned lw_to_coap(int lw)
{
	return lw ? (unsigned)lw : LW_CONTENT;
}

static void on_read(struct m2m_dm *dm, const struct m2m_coap_msg *req, const struct lw_path *p,
		    struct m2m_coap_reply *rep)
{
	struct lw_records rs = { 0 };
	struct lw_buf out = { 0 };
	unsigned used = 0;
	int rc;

	if (req->accept == LW_FMT_LINK) {
		rc = lw_discover(&dm->reg, p, &out);
		used = LW_FMT_LINK;
	} else {
		rc = lw_read(&dm->reg, p, &rs);
		if (!rc)
			rc = lw_encode(&rs, p, req->accept, &out, &used);
	}
	rep->code = lw_to_coap(rc);
	if (!rc) {
		rep->content_format = used;
		rep->payload = out.p;
		rep->len = out.len;
		out.p = NULL;
		if (!rep->payload) {
			rep->payload = malloc(1);
			rep->len = 0;
		}
	}
	if (!rc && req->accept != LW_FMT_LINK && req->observe == 0) {
		uint32_t seq;

		if (lw_obs_take(&dm->obs, req, p, &rs, rep->payload, rep->len, &seq)) {
			rep->observe = (int)seq;
			dm->obs_dirty = true;
		}
	} else if (req->observe == 1 || (rc && req->observe == 0)) {
		/* cancelled, or a renewal answered with an error: that observation ends */
		lw_obs_cancel(&dm->obs, req->path, req->token, req->toklen);
		dm->obs_dirty = true;
	}
	lw_buf_free(&out);
	lw_records_free(&rs);
}

/*
 * A FETCH on / (Read-Composite, TS Core 6.3.8): the paths its SenML names,
 * read; with Observe 0, an Observe-Composite (TS Core 6.4), notified as
 * observations of one path are; Observe 1 with its token cancels it.
 */
static void on_fetch(struct m2m_dm *dm, const struct m2m_coap_msg *req,
		     struct m2m_coap_reply *rep)
{
	struct lw_records rs = { 0 }, paths = { 0 };
	struct lw_path root = { { 0 }, 0 };
	struct lw_buf out = { 0 };
	unsigned used = 0;
	int rc = lw_fetch_composite(&dm->reg, req->content_format, req->accept, req->payload,
				    req->len, &paths, &rs, &out, &used);
	/* the observation's name in the log and the saved state: "/", not "" */
	struct m2m_coap_msg named = *req;
	uint32_t seq;

	snprintf(named.path, sizeof(named.path), "/");
	logf_(dm, LOG_DEBUG, "FETCH / (%s, %zu records): %u.%02u",
	      req->observe == 0 ? "Observe-Composite" : req->observe == 1 ?
	      "Cancel Observe-Composite" : "Read-Composite", rs.n,
	      (rc ? rc : LW_CONTENT) >> 5, (rc ? rc : LW_CONTENT) & 31);
	rep->code = lw_to_coap(rc);
	if (!rc) {
		rep->content_format = used;
		rep->payload = out.p ? out.p : malloc(1);
		rep->len = out.len;
		out.p = NULL;
	}
	if (!rc && req->observe == 0 && rep->payload &&
	    lw_obs_take(&dm->obs, &named, &root, &rs, rep->payload, rep->len, &seq) &&
	    lw_obs_composite(&dm->obs, named.path, &paths, used)) {
		rep->observe = (int)seq;
		dm->obs_dirty = true;
	} else if (req->observe == 1 || (rc && req->observe == 0)) {
		lw_obs_cancel(&dm->obs, named.path, req->token, req->toklen);
		dm->obs_dirty = true;
	}
	lw_buf_free(&out);
	lw_records_free(&rs);
	lw_records_free(&paths);
}

void lw_dm_on_request(void *ctx, const struct m2m_coap_msg *req, struct m2m_coap_reply *rep)
{
	struct m2m_dm *dm = ctx;
	struct lw_records rs = { 0 };
	struct lw_path p;
	int rc;

	rep->content_format = M2M_COAP_NONE;
	if (!lw_path_parse(req->path, strlen(req->path), &p)) {
		rep->code = LW_NOT_FOUND;
		return;
	}
	/* the composite operations are on the root path only */
	if ((req->code == M2M_COAP_FETCH || req->code == M2M_COAP_IPATCH) && p.depth) {
		rep->code = LW_NOT_ALLOWED;
		return;
	}
	switch (req->code) {
	case M2M_COAP_FETCH:
		on_fetch(dm, req, rep);
		return;
	case M2M_COAP_IPATCH:
		rc = lw_patch_composite(&dm->reg, req->content_format, req->payload, req->len);
		break;
	case M2M_COAP_GET:
		on_read(dm, req, &p, rep);
		return;
	case M2M_COAP_PUT:
		if (!req->len && req->query[0]) {
			rc = lw_write_attrs(&dm->reg, &p, req->query, strlen(req->query));
		} else {
			rc = lw_decode(&dm->reg, &p, req->content_format, req->payload, req->len, &rs);
			if (!rc)
				rc = lw_write(&dm->reg, &p, &rs, true);
		}
		break;
	case M2M_COAP_POST:
		if (p.depth == 3) {
			rc = lw_execute(&dm->reg, &p, req->payload, req->len);
		} else {
			rc = lw_decode(&dm->reg, &p, req->content_format, req->payload, req->len, &rs);
			if (!rc)
				rc = lw_write(&dm->reg, &p, &rs, false);
		}
		break;
	default:
		rc = LW_NOT_ALLOWED; /* Create/Delete: no object here allows them */
	}
	logf_(dm, LOG_DEBUG, "%s %s: %u.%02u", req->code == M2M_COAP_PUT ? "PUT" :
	      req->code == M2M_COAP_POST ? "POST" : req->code == M2M_COAP_IPATCH ?
	      "iPATCH (Write-Composite)" : "DELETE",
	      req->path, (rc ? rc : LW_CHANGED) >> 5, (rc ? rc : LW_CHANGED) & 31);
	rep->code = rc ? (unsigned)rc : LW_CHANGED;
	/* attributes, Server resources (Lifetime, Binding, pmin, pmax, storing) */
	dm->obs_dirty = dm->obs_dirty || !rc;
	lw_records_free(&rs);
}

/*
 * A Write of a resource taken a block at a time (the Firmware Update
 * object's Package): an opaque value (application/octet-stream, or no
 * Content-Format) goes to the object's write_block as its blocks come; a
 * value in one message in another format (a TLV of one resource, a Write-
 * Attributes) is an ordinary request.
 */
unsigned lw_dm_on_block(void *ctx, const struct m2m_coap_msg *req, uint64_t offset)
{
	struct m2m_dm *dm = ctx;
	struct m2m_coap_reply rep = { .code = LW_INTERNAL, .content_format = M2M_COAP_NONE,
				      .observe = -1 };
	bool opaque = req->content_format == LW_FMT_OPAQUE ||
		      (req->content_format == LW_FMT_NONE && (req->len || !req->query[0]));
	bool last = !req->block1.has || !req->block1.more;
	const struct lw_res_def *d;
	struct lw_object *o;
	struct lw_path p;
	unsigned code;
	int rc;

	if (!opaque && !req->block1.has) {
		lw_dm_on_request(dm, req, &rep);
		free(rep.payload);
		return rep.code;
	}
	if (!opaque)
		return LW_UNSUPPORTED_CF;
	if (!lw_path_parse(req->path, strlen(req->path), &p) || p.depth != 3 ||
	    !(o = lw_registry_find(&dm->reg, p.id[0])) || !lw_inst_exists(o, p.id[1]) ||
	    !(d = lw_res_find(o, p.id[2])))
		return LW_NOT_FOUND;
	if (!o->ops->write_block || d->id != o->ops->block_res)
		return LW_NOT_ALLOWED;
	rc = o->ops->write_block(o, p.id[1], p.id[2], offset, req->payload, req->len, last);
	/* a block with more to follow that was taken goes out as 2.31 Continue (lib/coap) */
	code = rc ? (unsigned)rc : last ? LW_CHANGED : LW_CODE(2, 31);
	if (rc || last || offset == 0)
		logf_(dm, rc ? LOG_INFO : LOG_DEBUG, "%s %s block %u%s (byte %llu): %u.%02u",
		      req->code == M2M_COAP_PUT ? "PUT" : "POST", req->path, req->block1.num,
		      last ? ", the last" : "", (unsigned long long)offset, code >> 5, code & 31);
	return code;
}

void lw_dm_on_notify_failed(void *ctx, const uint8_t *token, size_t toklen, bool reset)
{
	struct m2m_dm *dm = ctx;

	lw_obs_failed(&dm->obs, token, toklen, reset);
	dm->obs_dirty = true;
}

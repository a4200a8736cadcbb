/* SPDX-License-Identifier: MIT */
/*
 * Object 33811, the project's security policy object (DDF in
 * lwm2m/ddf/33811.xml): one instance, over libm2m's policy API. What the
 * server reads: whether the device is in quarantine and why, each policy's
 * last look, the audit log's head (to keep, so that a log cut at its end
 * shows); what it may order (policy.server): Release, done within the
 * request; Wipe, answered first and done by the run once the client has
 * de-registered (run.c), because it destroys what the client talks with.
 * What came of the last order is kept for the next run (orders.c).
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "lwm2m/obj_int.h"
#include "policy/policy.h"

static const struct lw_res_def policy_res[] = {
	{ 0, LW_STRING, LW_OP_R, false },   /* State */
	{ 1, LW_STRING, LW_OP_R, false },   /* Reason */
	{ 2, LW_TIME, LW_OP_R, false },     /* Quarantined Since */
	{ 3, LW_TIME, LW_OP_R, false },     /* Last Check */
	{ 4, LW_STRING, LW_OP_R, false },   /* Location */
	{ 5, LW_STRING, LW_OP_R, false },   /* SIM */
	{ 6, LW_STRING, LW_OP_R, false },   /* Tamper */
	{ 7, LW_BOOLEAN, LW_OP_R, false },  /* Audit Intact */
	{ 8, LW_INTEGER, LW_OP_R, false },  /* Audit Records */
	{ 9, LW_STRING, LW_OP_R, false },   /* Audit Head */
	{ 10, LW_NONE, LW_OP_E, false },    /* Release */
	{ 11, LW_NONE, LW_OP_E, false },    /* Wipe */
	{ 12, LW_STRING, LW_OP_R, false },  /* Orders */
	{ 13, LW_STRING, LW_OP_R, false },  /* Last Order */
};

/*
 * The longest text an order's argument 0 may carry: what the audit log's
 * record keeps (256 bytes) after "released by uid N: ordered by the
 * management server (Short Server ID 65535): " (78); longer is 4.00, not cut.
 */
#define ORDER_TEXT_MAX 160

static unsigned orders(const struct lw_objects *s)
{
	return s->cfg->policy ? s->cfg->policy->server_orders : M2M_POLICY_ORDER_RELEASE;
}

static void policy_refresh(struct lw_objects *s)
{
	struct m2m_err err;
	uint64_t now = m2m_now_ms();
	char files[sizeof(s->pst_files)];

	if (s->pst_at && now - s->pst_at < 1000)
		return;
	s->pst_at = now;
	/* the status again only when its files changed, or while a quarantine is in force */
	pol_files_signature(s->cfg, files, sizeof(files));
	if (!s->pst_rc && !s->pst.quarantined && s->pst_files[0] && !strcmp(files, s->pst_files))
		return;
	snprintf(s->pst_files, sizeof(s->pst_files), "%s", files);
	memset(&s->pst, 0, sizeof(s->pst));
	s->pst.version = M2M_POLICY_STATUS_VERSION;
	m2m_err_clear(&err);
	s->pst_rc = m2m_policy_status(s->cfg, &s->pst, &err);
}

/* "holds: 120 m from the fence's centre", "off" */
static int look(struct lw_objects *s, struct lw_value *v, const struct m2m_policy_look *l)
{
	if (l->verdict == M2M_POLICY_OFF || !l->detail[0])
		return str(v, m2m_policy_verdict_name(l->verdict));
	snprintf(s->scratch, sizeof(s->scratch), "%s: %s", m2m_policy_verdict_name(l->verdict),
		 l->detail);
	return str(v, s->scratch);
}

static int time_value(struct lw_value *v, int64_t t)
{
	if (!t)
		return LW_NOT_FOUND;
	v->type = LW_TIME;
	v->i = t;
	return 0;
}

static int policy_read(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
		       struct lw_value *v)
{
	struct lw_objects *s = OBJS(o);
	const struct m2m_policy_status *st = &s->pst;
	unsigned ord = orders(s);

	if (res != 12 && res != 13)
		policy_refresh(s);
	if (s->pst_rc && res <= 9)
		return res == 0 ? str(v, "unknown") : LW_NOT_FOUND;
	switch (res) {
	case 0:
		return str(v, !st->quarantined ? "normal" :
			      st->quarantine_whole ? "quarantined" : "quarantined, not whole");
	case 1: return str(v, st->quarantined ? st->reason : "");
	case 2: return st->quarantined ? time_value(v, st->quarantined_since) : LW_NOT_FOUND;
	case 3: return time_value(v, st->checked);
	case 4: return look(s, v, &st->location);
	case 5: return look(s, v, &st->sim);
	case 6: return look(s, v, &st->tamper);
	case 7:
		v->type = LW_BOOLEAN;
		v->i = st->audit_intact;
		return 0;
	case 8: return integer(v, st->audit_records);
	case 9: return str(v, st->audit_head);
	case 12:
		return str(v, (ord & M2M_POLICY_ORDER_RELEASE) && (ord & M2M_POLICY_ORDER_WIPE) ?
			      "release wipe" : (ord & M2M_POLICY_ORDER_RELEASE) ? "release" :
			      (ord & M2M_POLICY_ORDER_WIPE) ? "wipe" : "none");
	case 13: return str(v, s->last_order);
	}
	return LW_NOT_FOUND;
}

/* What goes to the audit log: who ordered, and the server's words (argument 0) if any. */
static int order_reason(struct lw_objects *s, const uint8_t *arg, size_t len, char *out,
			size_t outlen)
{
	char text[ORDER_TEXT_MAX + 1];
	bool present;
	int rc = lw_exec_arg(arg, len, 0, text, sizeof(text), &present);

	if (rc)
		return rc;
	snprintf(out, outlen, "ordered by the management server (Short Server ID %u)%s%s", s->ssid,
		 text[0] ? ": " : "", text);
	return 0;
}

static int policy_order(struct lw_objects *s, uint16_t res, const uint8_t *arg, size_t len)
{
	char reason[sizeof(s->wipe_reason)];
	struct m2m_err err;
	int rc;

	if (!(orders(s) & (res == 10 ? M2M_POLICY_ORDER_RELEASE : M2M_POLICY_ORDER_WIPE)) ||
	    (res == 11 && !s->wipe_fn)) {
		snprintf(s->last_order, sizeof(s->last_order), "%s: refused: %s", res == 10 ?
			 "release" : "wipe", res == 11 && (orders(s) & M2M_POLICY_ORDER_WIPE) ?
			 "this run of the client does not wipe" : "not in policy.server");
		return LW_NOT_ALLOWED; /* TS 1.1: "Target is not allowed for Execute operation" */
	}
	if (s->wipe_due)
		return LW_SERVICE_UNAVAILABLE; /* a wipe is under way */
	rc = order_reason(s, arg, len, reason, sizeof(reason));
	if (rc) {
		snprintf(s->last_order, sizeof(s->last_order), "%s: refused: arguments not understood",
			 res == 10 ? "release" : "wipe");
		return rc;
	}
	if (res == 11) {
		snprintf(s->wipe_reason, sizeof(s->wipe_reason), "%s", reason);
		snprintf(s->last_order, sizeof(s->last_order), "wipe: accepted");
		s->wipe_due = true;
		return 0;
	}
	s->pst_at = 0;
	s->pst_files[0] = '\0';
	policy_refresh(s);
	if (!s->pst_rc && !s->pst.quarantined) {
		snprintf(s->last_order, sizeof(s->last_order), "release: not in quarantine");
		return 0;
	}
	m2m_err_clear(&err);
	rc = m2m_policy_release(s->cfg, reason, &err);
	s->pst_at = 0;
	s->pst_files[0] = '\0';
	if (rc) {
		snprintf(s->last_order, sizeof(s->last_order), "release: failed: %.280s", err.msg);
		return rc == M2M_ERR_BUSY ? LW_SERVICE_UNAVAILABLE : LW_INTERNAL;
	}
	LW_LOG(s->log, s->log_ctx, LOG_NOTICE, "quarantine released: %s", reason);
	snprintf(s->last_order, sizeof(s->last_order), "release: done");
	return 0;
}

/*
 * Release is done within the request: it takes the policy lock once, without
 * waiting (5.03 if a check holds it), deletes one nftables table and writes
 * two small files; milliseconds, not worth a worker. What came of the order
 * is kept for the next run when it changed (a server that orders again and
 * again is not written for each).
 */
static int policy_exec(struct lw_object *o, uint16_t inst, uint16_t res, const uint8_t *arg,
		       size_t len)
{
	struct lw_objects *s = OBJS(o);
	char before[sizeof(s->last_order)];
	int rc;

	memcpy(before, s->last_order, sizeof(before));
	rc = policy_order(s, res, arg, len);
	if (strcmp(before, s->last_order))
		lw_orders_save(s);
	return rc;
}

static const struct lw_object_ops policy_ops = {
	.read = policy_read, .exec = policy_exec,
};

const struct lw_object_def lw_obj_policy = {
	.id = LW_OBJ_M2M_POLICY, .res = policy_res, .n_res = ARRAY_SIZE(policy_res),
	.ops = &policy_ops,
};

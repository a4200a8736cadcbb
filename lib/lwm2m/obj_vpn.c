/* SPDX-License-Identifier: MIT */
/*
 * Object 33810, the project's VPN and certificate object (DDF in
 * lwm2m/ddf/33810.xml): one instance per VPN profile, over libm2m's VPN API.
 * An ordered renewal runs beside the CoAP loop (obj_vpn_renew.c); what came
 * of the last one is kept for the next run (orders.c).
 */
#include <stdio.h>
#include <syslog.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lwm2m/obj_int.h"
#include "m2m/keystore.h"
#include "m2m/pki.h"

static const struct lw_res_def vpn_res[] = {
	{ 0, LW_STRING, LW_OP_R, false },  /* Profile */
	{ 1, LW_STRING, LW_OP_R, false },  /* State: down, connecting, up */
	{ 2, LW_STRING, LW_OP_R, true },   /* Virtual IP */
	{ 3, LW_STRING, LW_OP_R, false },  /* Last Error */
	{ 4, LW_INTEGER, LW_OP_R, false }, /* Bytes In */
	{ 5, LW_INTEGER, LW_OP_R, false }, /* Bytes Out */
	{ 6, LW_NONE, LW_OP_E, false },    /* Connect */
	{ 7, LW_NONE, LW_OP_E, false },    /* Disconnect */
	{ 8, LW_STRING, LW_OP_R, false },  /* Certificate Subject */
	{ 9, LW_TIME, LW_OP_R, false },    /* Certificate Not After */
	{ 10, LW_STRING, LW_OP_R, false }, /* Certificate Renewal State */
	{ 11, LW_STRING, LW_OP_R, false }, /* Certificate Store */
	{ 12, LW_INTEGER, LW_OP_R, false },/* Last Result Code (m2m exit code) */
	{ 13, LW_NONE, LW_OP_E, false },    /* Renew Certificate */
	{ 14, LW_NONE, LW_OP_E, false },    /* Renew With New Key */
	{ 15, LW_STRING, LW_OP_R, false },  /* Last Renewal */
};

static void vpn_refresh(struct lw_objects *s)
{
	struct m2m_err err;
	uint64_t now = m2m_now_ms();

	if (s->vst_at && now - s->vst_at < 1000)
		return;
	s->vst_at = now;
	for (size_t i = 0; i < s->cfg->n_profiles && i < LW_MAX_INST; i++) {
		m2m_err_clear(&err);
		memset(&s->vst[i], 0, sizeof(s->vst[i]));
		if (!s->vpn_handle && m2m_vpn_open(s->cfg, &s->vpn_handle, &err))
			s->vpn_handle = NULL;
		s->vst_rc[i] = s->vpn_handle ?
			       m2m_vpn_status(s->vpn_handle, s->cfg->profiles[i].name, &s->vst[i], &err) :
			       err.rc;
		snprintf(s->vst_err[i], sizeof(s->vst_err[i]), "%s", s->vst_rc[i] ? err.msg : "");
	}
}

/* Subject and notAfter of a profile's certificate file (PKCS#12 needs its PIN: not read). */
static bool vpn_cert(const struct m2m_vpn_profile *p, char *subject, size_t len, time_t *na)
{
	struct m2m_cert_info ci;
	struct m2m_err err;

	if (!p->cert || m2m_cert_info_file(p->cert, &ci, &err))
		return false;
	snprintf(subject, len, "%s", ci.subject);
	*na = ci.not_after;
	return true;
}

static int vpn_count(struct lw_object *o, uint16_t inst, uint16_t res)
{
	struct lw_objects *s = OBJS(o);

	vpn_refresh(s);
	return (int)s->vst[inst].n_vips;
}

static int vpn_read(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
		    struct lw_value *v)
{
	struct lw_objects *s = OBJS(o);
	const struct m2m_vpn_profile *p = &s->cfg->profiles[inst];
	struct m2m_vpn_status *st = &s->vst[inst];
	time_t na = 0;
	bool cert;

	if (res <= 5 || res == 12)
		vpn_refresh(s);
	switch (res) {
	case 0: return str(v, p->name);
	case 1: return str(v, s->vst_rc[inst] ? "unknown" : m2m_vpn_state_name(st->state));
	case 2: return ri < st->n_vips ? str(v, st->vips[ri]) : LW_NOT_FOUND;
	case 3: return str(v, s->vst_rc[inst] ? s->vst_err[inst] : st->last_error);
	case 4: return integer(v, (int64_t)st->bytes_in);
	case 5: return integer(v, (int64_t)st->bytes_out);
	case 11: return str(v, m2m_auth_key_store(p->auth));
	case 12: return integer(v, s->vst_rc[inst] ? s->vst_rc[inst] : st->last_rc);
	case 15:
		/* while it runs; what came of it once the worker is joined (obj_vpn_renew.c) */
		return str(v, lw_renew_running(s, inst) ? lw_renew_running(s, inst) : s->renewed[inst]);
	}
	cert = vpn_cert(p, s->scratch, sizeof(s->scratch), &na);
	switch (res) {
	case 8:
		return cert ? str(v, s->scratch) : LW_NOT_FOUND;
	case 9:
		if (!cert)
			return LW_NOT_FOUND;
		v->type = LW_TIME;
		v->i = na;
		return 0;
	case 10:
		if (!cert)
			return str(v, "unknown");
		/* the renewal threshold m2mvpn-cert and doctor use */
		return str(v, na < time(NULL) ? "expired" :
			      na < time(NULL) + (time_t)M2M_CERT_RENEW_DAYS * 86400 ? "due" : "valid");
	}
	return LW_NOT_FOUND;
}

/* One ordered renewal at a time, a profile's 10 s apart: a server cannot flood the CA. */
#define RENEW_SPACING_MS 10000

/*
 * A renewal needs the CA (an enroll: section), this run's caller to do it,
 * and for a new key a store that makes one (file keys so far): 4.05
 * otherwise. 5.03 while the last renewal's pair waits for its proof on the
 * tunnel (<cert>.prev), or within 10 s of the last ordered one (and while
 * one runs: vpn_exec).
 */
static int renew_allowed(struct lw_objects *s, uint16_t inst, bool new_key)
{
	const struct m2m_vpn_profile *p = &s->cfg->profiles[inst];
	char prev[4096];

	if (!s->renew_fn || !m2m_config_enroll(s->cfg, p) || !p->cert)
		return LW_NOT_ALLOWED;
	if (new_key) {
		struct m2m_key_ref ref, next;
		char path[4096];

		if (m2m_key_ref_from_profile(p, &ref, NULL) ||
		    m2m_key_ref_next(&ref, &next, path, sizeof(path), NULL))
			return LW_NOT_ALLOWED;
	}
	if (s->renew_at[inst] && m2m_now_ms() - s->renew_at[inst] < RENEW_SPACING_MS)
		return LW_SERVICE_UNAVAILABLE;
	if ((size_t)snprintf(prev, sizeof(prev), "%s" M2M_CERT_PREV_SUFFIX, p->cert) < sizeof(prev) &&
	    access(prev, F_OK) == 0)
		return LW_SERVICE_UNAVAILABLE;
	return 0;
}

static int vpn_exec(struct lw_object *o, uint16_t inst, uint16_t res, const uint8_t *arg,
		    size_t len)
{
	struct lw_objects *s = OBJS(o);
	struct m2m_err err;

	m2m_err_clear(&err);
	if (res == 13 || res == 14) {
		int rc = renew_allowed(s, inst, res == 14);

		if (rc)
			return rc;
	}
	if (!s->vpn_handle && m2m_vpn_open(s->cfg, &s->vpn_handle, &err))
		return LW_INTERNAL;
	/*
	 * One at a time, an ordered renewal's worker included: its proof
	 * brings a tunnel up, and only one thread at a time may be in a call
	 * that uses a key (libm2m(3) THREADS)
	 */
	if (s->vpn_pending || s->renewal || s->wipe_due)
		return LW_SERVICE_UNAVAILABLE; /* a wipe under way: nothing new on the tunnel either */
	/*
	 * Done once the answer (2.04: accepted) is out, not inside the request:
	 * a connect takes up to 20 s, and the server would retransmit its
	 * Execute meanwhile. The outcome shows in the profile's State and Last
	 * Error resources; a renewal's, which runs beside the CoAP loop
	 * (obj_vpn_renew.c), in Last Renewal.
	 */
	s->vpn_pending = true;
	s->vpn_inst = inst;
	s->vpn_res = res;
	return 0;
}

/* A Connect or Disconnect once its answer is out; a renewal begun, or joined once it ended. */
static void vpn_run_pending(struct lw_objects *s)
{
	const char *name;
	struct m2m_err err;

	lw_renew_reap(s, false);
	if (!s->vpn_pending || !s->vpn_handle)
		return;
	s->vpn_pending = false;
	name = s->cfg->profiles[s->vpn_inst].name;
	m2m_err_clear(&err);
	/* the result is kept by the library as the profile's last error */
	if (s->vpn_res == 6) {
		m2m_vpn_up(s->vpn_handle, name, 20 * 1000, NULL, &err);
	} else if (s->vpn_res == 7) {
		m2m_vpn_down(s->vpn_handle, name, 10 * 1000, &err);
	} else {
		bool new_key = s->vpn_res == 14;
		uint64_t now = m2m_now_ms();
		unsigned left = 0;
		int e;

		s->renew_at[s->vpn_inst] = now;
		/* a report run's bound holds: what is left of it, else not begun */
		if (s->run_end_ms && now + 1000 > s->run_end_ms) {
			snprintf(s->renewed[s->vpn_inst], sizeof(s->renewed[0]),
				 "failed: no time left in this run of the client");
			s->vst_at = 0;
			lw_orders_save(s);
			return;
		}
		if (s->run_end_ms)
			left = (unsigned)(s->run_end_ms - now);
		LW_LOG(s->log, s->log_ctx, LOG_NOTICE, "%s: renewing its certificate%s, as the management server ordered",
		       name, new_key ? " with a new key" : "");
		/* its outcome once the worker is joined: lw_renew_reap() */
		e = lw_renew_start(s, s->vpn_inst, new_key, left);
		if (e) {
			snprintf(s->renewed[s->vpn_inst], sizeof(s->renewed[0]),
				 "failed: cannot start the renewal: %s", strerror(e));
			LW_LOG(s->log, s->log_ctx, LOG_WARNING, "%s: %s", name, s->renewed[s->vpn_inst]);
			lw_orders_save(s);
		}
	}
	s->vst_at = 0;
}

static const struct lw_object_ops vpn_ops = {
	.read = vpn_read, .count = vpn_count, .exec = vpn_exec,
};

/* one instance per profile, as many as an object holds */
static size_t vpn_instances(const struct m2m_config *cfg)
{
	return cfg->n_profiles < LW_MAX_INST ? cfg->n_profiles : LW_MAX_INST;
}

/* The client ends: a renewal under way is waited for (its own bound), and what came of it kept. */
static void vpn_free(struct lw_objects *s)
{
	lw_renew_reap(s, true);
	m2m_vpn_close(s->vpn_handle);
	s->vpn_handle = NULL;
}

const struct lw_object_def lw_obj_vpn = {
	.id = LW_OBJ_M2M_VPN, .res = vpn_res, .n_res = ARRAY_SIZE(vpn_res), .ops = &vpn_ops,
	.instances = vpn_instances, .run = vpn_run_pending, .free = vpn_free,
};

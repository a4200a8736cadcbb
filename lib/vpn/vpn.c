/* SPDX-License-Identifier: MIT */
/*
 * A profile's tunnel in charon over VICI: up (initiate), down (terminate),
 * status; loading the profile into charon is conn.c's. charon's "initiate"
 * is not idempotent (a second one on an up tunnel fails as a duplicate), so
 * every operation looks at the SAs first, under a per-profile lock shared by
 * one-shot "up" runs and the always-on supervisor.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/keystore.h"
#include "m2m/vpn.h"
#include "vici/vici.h"
#include "vpn/vpn_int.h"

/* kept back from the caller's time limit to tear down a failed attempt */
#define CLEANUP_RESERVE_MS 300
/* the shortest initiate worth starting again (the lab's handshake takes 10 ms) */
#define MIN_TRY_MS 50
/* how long status waits for charon */
#define STATUS_LIMIT_MS 5000

const char *m2m_vpn_state_name(enum m2m_vpn_state s)
{
	switch (s) {
	case M2M_VPN_STATE_UP:
		return "up";
	case M2M_VPN_STATE_CONNECTING:
		return "connecting";
	case M2M_VPN_STATE_UNCONFIRMED:
		return "unconfirmed";
	default:
		return "down";
	}
}

int m2m_vpn_open(const struct m2m_config *cfg, struct m2m_vpn **out, struct m2m_err *err)
{
	struct m2m_vpn *vpn = calloc(1, sizeof(*vpn));

	if (!vpn)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	vpn->cfg = cfg;
	m2m_keystore_set_state_dir(cfg->state_dir);
	*out = vpn;
	return M2M_OK;
}

void m2m_vpn_set_cancel(struct m2m_vpn *vpn, volatile const int *flag)
{
	vpn->cancel = flag;
	vici_set_cancel(vpn->vc, flag);
}

void m2m_vpn_set_log(struct m2m_vpn *vpn, m2m_log_fn log, void *ctx)
{
	vpn->log = log;
	vpn->log_ctx = ctx;
}

void m2m_vpn_close(struct m2m_vpn *vpn)
{
	if (!vpn)
		return;
	vpn_disconnect(vpn);
	free(vpn);
}

/* ---- state --------------------------------------------------------------- */

static uint64_t u64(const struct vici_node *n, const char *path)
{
	const char *v = vici_find_str(n, path);

	return v ? strtoull(v, NULL, 10) : 0;
}

static void copy_str(char *dst, size_t len, const struct vici_node *n, const char *path)
{
	const char *v = vici_find_str(n, path);

	snprintf(dst, len, "%s", v ? v : "");
}

/* A tunnel carries traffic in these states, rekeying included. */
static bool ike_usable(const char *s)
{
	return s && (strcmp(s, "ESTABLISHED") == 0 || strcmp(s, "REKEYING") == 0 ||
		     strcmp(s, "REKEYED") == 0);
}

static bool child_state_usable(const char *s)
{
	return s && (strcmp(s, "INSTALLED") == 0 || strcmp(s, "UPDATING") == 0 ||
		     strcmp(s, "REKEYING") == 0 || strcmp(s, "REKEYED") == 0);
}

struct sa_collect {
	const char *ike;
	struct m2m_vpn_status *st;
	int best; /* rank of what is in st: 0 none, 1 connecting, 2 up */
};

/* Rank one IKE SA of our connection and keep the best one's details. */
static void collect_sa(void *ctx, const char *event, const struct vici_node *msg)
{
	struct sa_collect *sc = ctx;
	const struct vici_node *ike, *children, *ch, *vips;
	struct m2m_vpn_status tmp;
	const char *state;
	bool child_usable;
	int rank;

	if (strcmp(event, "list-sa") != 0)
		return;
	for (ike = msg->child; ike; ike = ike->next) {
		if (ike->type != VICI_NODE_SECTION || !ike->name || strcmp(ike->name, sc->ike) != 0)
			continue;
		memset(&tmp, 0, sizeof(tmp));
		rank = 1;
		child_usable = false;
		snprintf(tmp.profile, sizeof(tmp.profile), "%s", sc->st->profile);
		state = vici_find_str(ike, "state");
		copy_str(tmp.ike_state, sizeof(tmp.ike_state), ike, "state");
		copy_str(tmp.local_host, sizeof(tmp.local_host), ike, "local-host");
		copy_str(tmp.remote_host, sizeof(tmp.remote_host), ike, "remote-host");
		copy_str(tmp.local_id, sizeof(tmp.local_id), ike, "local-id");
		copy_str(tmp.remote_id, sizeof(tmp.remote_id), ike, "remote-id");
		tmp.ike_uniqueid = (unsigned)u64(ike, "uniqueid");
		tmp.established_s = u64(ike, "established");
		tmp.encap = vici_find_yes(ike, "nat-any") || vici_find_yes(ike, "nat-local") ||
			    vici_find_yes(ike, "nat-remote");
		if (vici_find_str(ike, "encr-alg"))
			snprintf(tmp.ike_proposal, sizeof(tmp.ike_proposal), "%s%s%s/%s/%s",
				 vici_find_str(ike, "encr-alg"),
				 vici_find_str(ike, "encr-keysize") ? "-" : "",
				 vici_find_str(ike, "encr-keysize") ? vici_find_str(ike, "encr-keysize") : "",
				 vici_find_str(ike, "prf-alg") ? vici_find_str(ike, "prf-alg") : "?",
				 vici_find_str(ike, "dh-group") ? vici_find_str(ike, "dh-group") : "?");
		vips = vici_find(ike, "local-vips");
		if (vips && vips->type == VICI_NODE_LIST)
			for (const struct vici_node *it = vips->child;
			     it && tmp.n_vips < M2M_VPN_MAX_VIPS; it = it->next)
				snprintf(tmp.vips[tmp.n_vips++], sizeof(tmp.vips[0]), "%s",
					 it->value ? it->value : "");
		children = vici_find(ike, "child-sas");
		for (ch = children ? children->child : NULL; ch; ch = ch->next) {
			const char *cs = vici_find_str(ch, "state");

			if (ch->type != VICI_NODE_SECTION)
				continue;
			tmp.bytes_in += u64(ch, "bytes-in");
			tmp.bytes_out += u64(ch, "bytes-out");
			tmp.packets_in += u64(ch, "packets-in");
			tmp.packets_out += u64(ch, "packets-out");
			if (child_state_usable(cs))
				child_usable = true;
			if (cs && (child_state_usable(cs) || !tmp.child_state[0])) {
				snprintf(tmp.child_state, sizeof(tmp.child_state), "%s", cs);
				tmp.encap = tmp.encap || vici_find_yes(ch, "encap");
				if (vici_find_str(ch, "encr-alg"))
					snprintf(tmp.esp_proposal, sizeof(tmp.esp_proposal), "%s%s%s",
						 vici_find_str(ch, "encr-alg"),
						 vici_find_str(ch, "encr-keysize") ? "-" : "",
						 vici_find_str(ch, "encr-keysize") ?
							 vici_find_str(ch, "encr-keysize") : "");
			}
		}
		if (ike_usable(state) && child_usable)
			rank = 2;
		if (state && (strcmp(state, "DELETING") == 0 || strcmp(state, "DESTROYING") == 0))
			rank = 0;
		tmp.state = rank == 2 ? M2M_VPN_STATE_UP :
			    rank == 1 ? M2M_VPN_STATE_CONNECTING : M2M_VPN_STATE_DOWN;
		if (rank > sc->best) {
			*sc->st = tmp;
			sc->best = rank;
		}
	}
}

/* A status that says down until charon says more, and the connection to ask it. */
static int connect_down(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p,
			struct m2m_vpn_status *st, struct m2m_err *err)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->profile, sizeof(st->profile), "%s", p->name);
	st->state = M2M_VPN_STATE_DOWN;
	return vpn_connect(vpn, err);
}

/*
 * The profile's SAs as charon lists them. The first query of a handle also
 * takes the sweep's get-conns along (vpn_sweep()), and the registrations the
 * caller needs (list-sa; control-log for an initiate next: `up`): one round
 * trip to charon instead of up to four.
 */
int vpn_query_sas(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p,
		     struct m2m_vpn_status *st, int timeout_ms, bool control_log,
		     struct m2m_err *err)
{
	char ike[64];
	struct sa_collect sc = { .ike = ike, .st = st };
	struct vpn_pipe pp = { .vpn = vpn };
	struct vici_buf req;
	int rc, conns = -1;

	vpn_conn_name(p->name, ike, sizeof(ike));
	rc = connect_down(vpn, p, st, err);
	if (rc)
		return rc;
	/* charon reads it while we look at our records */
	vpn_register_ahead(vpn, false);
	if (!vpn->swept && vpn_sweep_records(vpn, timeout_ms)) {
		conns = (int)pp.n;
		pp.steps[pp.n++] = (struct vici_step){ VICI_CMD_REQUEST, "get-conns", NULL, NULL };
	}
	if (!vpn->reg_list_sa)
		pp.steps[pp.n++] = (struct vici_step){ VICI_EVENT_REGISTER, "list-sa", NULL, NULL };
	if (control_log && !vpn->reg_control_log)
		pp.steps[pp.n++] = (struct vici_step){ VICI_EVENT_REGISTER, "control-log", NULL, NULL };
	vici_buf_init(&req);
	vici_add_kvs(&req, "ike", ike);
	/* no "noblock": it skips SAs that are busy, e.g. just established, which would look down */
	pp.steps[pp.n++] = (struct vici_step){ VICI_CMD_REQUEST, "list-sas", &req, NULL };
	rc = vpn_pipeline(&pp, collect_sa, &sc, timeout_ms, err);
	vici_buf_free(&req);
	/* charon's connections no configured profile names (after our own answer) */
	if (!rc && conns >= 0)
		vpn_sweep_conns(vpn, pp.steps[conns].resp, timeout_ms);
	vpn_pipe_free(&pp);
	return rc;
}

const struct m2m_vpn_profile *vpn_find_profile(const struct m2m_vpn *vpn, const char *name,
					       struct m2m_err *err)
{
	const struct m2m_vpn_profile *p = m2m_config_profile(vpn->cfg, name);

	if (!p)
		m2m_err_set(err, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", name,
			    vpn->cfg->path ? vpn->cfg->path : "the configuration");
	return p;
}

int m2m_vpn_status(struct m2m_vpn *vpn, const char *profile, struct m2m_vpn_status *st,
		   struct m2m_err *caller_err)
{
	struct m2m_err local, *err = caller_err ? caller_err : &local;
	const struct m2m_vpn_profile *p = vpn_find_profile(vpn, profile, err);
	uint64_t outer;
	int rc;

	if (!p)
		return M2M_ERR_NOT_FOUND;
	outer = vpn_limit_push(vpn, m2m_now_ms() + STATUS_LIMIT_MS);
	rc = vpn_query_sas(vpn, p, st, STATUS_LIMIT_MS, false, err);
	vpn->limit = outer;
	st->guard_active = p->fail_closed && vpn_guard_whole(vpn->cfg, p);
	if (st->state != M2M_VPN_STATE_UP)
		vpn_last_error_load(vpn->cfg, st);
	else
		vpn_liveness_load(vpn->cfg, st);
	return rc;
}

/* ---- up / down ----------------------------------------------------------- */

struct initiate_ctx {
	struct m2m_vpn *vpn;
	const char *ike;
	unsigned ike_id; /* the IKE SA this attempt created: the only one we may tear down */
	bool established; /* charon logged our CHILD SA established */
	bool duplicate;   /* charon refused a second CHILD SA: ours is installed */
	struct vpn_attempt_log log;
};

/*
 * "CHILD_SA m2m-pos{7} established with SPIs ...": charon logs it once the SA
 * and its policies and routes are installed, right before the hook that makes
 * the initiate succeed; nothing after it can fail the initiate.
 */
static bool child_established(const char *line, const char *child)
{
	size_t n = strlen(child);

	if (strncmp(line, "CHILD_SA ", 9) != 0 || strncmp(line + 9, child, n) != 0 ||
	    line[9 + n] != '{')
		return false;
	line += 9 + n + 1;
	if (*line < '0' || *line > '9')
		return false;
	line += strspn(line, "0123456789");
	return strncmp(line, "} established", 13) == 0;
}

static void on_control_log(void *ctx, const char *event, const struct vici_node *msg)
{
	struct initiate_ctx *ic = ctx;
	const char *line, *n, *id;
	bool ours;

	if (strcmp(event, "control-log") != 0)
		return;
	line = vici_find_str(msg, "msg");
	if (!line)
		return;
	n = vici_find_str(msg, "ikesa-name");
	id = vici_find_str(msg, "ikesa-uniqueid");
	ours = n && strcmp(n, ic->ike) == 0;
	/*
	 * Only an IKE SA this initiate created is ours to tear down: one that
	 * was there already (up, or being set up) only gets a CHILD SA asked of it
	 */
	if (!ic->ike_id && ours && id && strncmp(line, "initiating IKE_SA ", 18) == 0)
		ic->ike_id = (unsigned)strtoul(id, NULL, 10);
	vpn_log_add(&ic->log, line);
	VLOG(ic->vpn, LOG_DEBUG, "charon: %s", line);
	if (ours && strstr(line, "due to existing duplicate"))
		ic->duplicate = true;
	if (ours && child_established(line, ic->ike) &&
	    (!ic->ike_id || (id && (unsigned)strtoul(id, NULL, 10) == ic->ike_id))) {
		/*
		 * The tunnel carries traffic now: the answer to the initiate
		 * says no more, and charon sends it only after a thread
		 * hand-off or two (about 1 ms of a 10 ms "up")
		 */
		ic->established = true;
		vici_end_wait(ic->vpn->vc);
	}
}

/*
 * Tear down the IKE SA a failed attempt of ours created, without waiting for
 * the peer, so nothing keeps retransmitting behind the caller's back. Runs
 * even when the caller is being cancelled: that is when it matters most.
 */
static void terminate_attempt(struct m2m_vpn *vpn, unsigned ike_id)
{
	volatile const int *cancel = vpn->cancel;
	struct vici_node *resp = NULL;
	struct m2m_err ignore;
	struct vici_buf b;

	if (!ike_id)
		return;
	/* a fresh stream: the old one may still owe the answer to a cancelled initiate */
	vpn_disconnect(vpn);
	vpn->cancel = NULL;
	vici_buf_init(&b);
	vici_add_kvf(&b, "ike-id", "%u", ike_id);
	vici_add_kvs(&b, "force", "yes");
	vici_add_kvs(&b, "timeout", "-1"); /* do not wait for the peer */
	vici_add_kvs(&b, "loglevel", "-1");
	vpn_request(vpn, "terminate", &b, &resp, NULL, NULL, CLEANUP_RESERVE_MS, &ignore);
	vici_buf_free(&b);
	vici_node_free(resp);
	vpn->cancel = cancel;
	if (vpn->vc)
		vici_set_cancel(vpn->vc, cancel);
}

/* Wait while charon itself is connecting (e.g. a DPD restart) until up, down or deadline. */
static int wait_connecting(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p,
			   struct m2m_vpn_status *st, uint64_t deadline, struct m2m_err *err)
{
	int rc = M2M_OK;

	while (st->state == M2M_VPN_STATE_CONNECTING && vpn_remaining(deadline) > 0) {
		if (!m2m_sleep_ms(vpn_remaining(deadline) < 100 ? (unsigned)vpn_remaining(deadline) : 100,
				  vpn->cancel))
			return m2m_err_set(err, M2M_ERR_TIMEOUT, "%s: cancelled", p->name);
		rc = vpn_query_sas(vpn, p, st, vpn_budget(deadline), false, err);
		if (rc)
			return rc;
	}
	return rc;
}

static int do_up(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p, uint64_t deadline,
		 bool want_status, struct m2m_vpn_status *st, struct m2m_err *err)
{
	bool cached, fast, sweep = false, notfound = false, tpm_retried = false;
	char name[64], reason[300];
	struct initiate_ctx ic = { .vpn = vpn, .ike = name };
	struct vici_node *resp = NULL, *conns = NULL;
	struct m2m_err refused;
	struct vpn_pipe pp;
	struct vici_buf b;
	uint64_t started;
	time_t nb, na;
	int rc, t, ci, ii;

	vpn_conn_name(p->name, name, sizeof(name));
	/*
	 * An on-demand connection cannot act on its own (loaded.c): while charon
	 * holds it as we loaded it, nothing but an "up" (one at a time: the lock)
	 * sets it up. So initiate at once, in one write with what the handle still
	 * needs (control-log, the sweep's get-conns), and take charon's refusal of
	 * a duplicate CHILD SA for "already up": one round trip and three of
	 * charon's thread hand-offs before IKE_SA_INIT instead of two and five.
	 * The rest look first: a fail-closed guard depends on the state, charon's
	 * own retries (always-on) must not be joined or torn down, and a profile
	 * to load must not be loaded over an up tunnel.
	 */
	fast = p->mode == M2M_VPN_ON_DEMAND && !p->fail_closed &&
	       vpn_loaded_match(vpn->cfg, p, &nb, &na);
	if (fast) {
		rc = connect_down(vpn, p, st, err);
		if (rc)
			return rc;
		sweep = !vpn->swept && vpn_sweep_records(vpn, vpn_budget(deadline));
		rc = vpn_load_cached(vpn, p, deadline, nb, na, &cached, err);
		if (rc)
			return rc;
		goto again;
	}
	rc = vpn_query_sas(vpn, p, st, vpn_budget(deadline), true, err);
	if (rc)
		return rc;
	if (st->state == M2M_VPN_STATE_CONNECTING) {
		VLOG(vpn, LOG_INFO, "%s: charon is already connecting; waiting", p->name);
		rc = wait_connecting(vpn, p, st, deadline, err);
		if (rc)
			return rc;
	}
	if (st->state == M2M_VPN_STATE_UP) {
		/* the rules were flushed: an "up" that cannot put them back is no success */
		if (p->fail_closed && !vpn_guard_whole(vpn->cfg, p))
			return vpn_guard_enable(vpn->cfg, p, err);
		return M2M_OK;
	}
	if (st->state == M2M_VPN_STATE_CONNECTING) {
		/* charon's own attempt (a DPD restart, say): not ours to tear down */
		return m2m_err_set(err, M2M_ERR_TIMEOUT,
				   "%s: charon is still connecting (its own retry) at the time limit",
				   p->name);
	}

	if (p->fail_closed && (rc = vpn_guard_enable(vpn->cfg, p, err)))
		return rc;
	rc = vpn_load_profile(vpn, p, deadline, false, &cached, err);
	if (rc)
		return rc;

again:
	/* charon's own limit; what is left after it is for tearing a failure down */
	t = vpn_remaining(deadline) - CLEANUP_RESERVE_MS;
	if (t < 1)
		t = 1;
	ic.ike_id = 0;
	ic.established = ic.duplicate = false;
	vici_buf_init(&b);
	vici_add_kvs(&b, "child", name);
	vici_add_kvs(&b, "ike", name);
	vici_add_kvf(&b, "timeout", "%d", t);
	vici_add_kvs(&b, "loglevel", "1");
	pp = (struct vpn_pipe){ .vpn = vpn };
	ci = -1;
	if (!vpn->reg_control_log)
		pp.steps[pp.n++] = (struct vici_step){ VICI_EVENT_REGISTER, "control-log", NULL, NULL };
	if (sweep) {
		ci = (int)pp.n;
		pp.steps[pp.n++] = (struct vici_step){ VICI_CMD_REQUEST, "get-conns", NULL, NULL };
	}
	ii = (int)pp.n;
	pp.steps[pp.n++] = (struct vici_step){ VICI_CMD_REQUEST, "initiate", &b, NULL };
	VLOG(vpn, LOG_INFO, "%s: initiating to %s", p->name, p->gateways[0]);
	started = m2m_now_ms();
	/* charon answers by itself once its timeout passed */
	rc = vpn_pipeline(&pp, on_control_log, &ic, t + VPN_ANSWER_SLACK_MS, err);
	vici_buf_free(&b);
	resp = pp.steps[ii].resp;
	pp.steps[ii].resp = NULL;
	if (ci >= 0) {
		conns = pp.steps[ci].resp;
		pp.steps[ci].resp = NULL;
		sweep = false;
	}
	vpn_pipe_free(&pp);
	/* charon's connections no configured profile names (rarely any: then requests) */
	if (!rc && conns)
		vpn_sweep_conns(vpn, conns, vpn_budget(deadline));
	vici_node_free(conns);
	conns = NULL;
	if (!rc && !resp && ic.established) {
		/* up: charon's own answer comes later and is dropped (vici_end_wait) */
	} else if (!rc && ic.duplicate) {
		/* the CHILD SA is installed already: up (on-demand: nobody else sets it up) */
		VLOG(vpn, LOG_INFO, "%s: up already", p->name);
	} else if (!rc) {
		const char *ok = vici_find_str(resp, "success");

		if (!ok || strcmp(ok, "yes") != 0) {
			const char *em = vici_find_str(resp, "errmsg");

			notfound = em && strstr(em, "not found");
			rc = vpn_classify(&ic.log, em, p->gateways[0], reason, sizeof(reason));
			vpn_classify_hint(&ic.log, p, reason, sizeof(reason));
			m2m_err_set(err, rc, "%s: %s", p->name, reason);
		}
	} else if (rc == M2M_ERR_TIMEOUT) {
		/* charon did not even answer in time (or we were cancelled) */
		int crc = vpn_classify(&ic.log, NULL, p->gateways[0], reason, sizeof(reason));

		if (crc == M2M_ERR_FAILURE)
			snprintf(reason, sizeof(reason), "not up within the time limit (%s)",
				 vpn->cancel && *vpn->cancel ? "cancelled" : "charon did not answer");
		rc = m2m_err_set(err, crc == M2M_ERR_FAILURE ? M2M_ERR_TIMEOUT : crc, "%s: %s",
				 p->name, reason);
	}
	vici_node_free(resp);
	resp = NULL;
	vpn_log_free(&ic.log);
	if (rc && tpm_retried && (rc == M2M_ERR_TIMEOUT || rc == M2M_ERR_UNREACHABLE) &&
	    !(vpn->cancel && *vpn->cancel)) {
		/* the second try ran out of time: the gateway's refusal is the answer */
		*err = refused;
		rc = err->rc;
	}
	if (rc) {
		/* leave nothing half-open behind: charon would keep retransmitting */
		terminate_attempt(vpn, ic.ike_id);
		if (cached && (notfound || rc == M2M_ERR_CREDENTIAL)) {
			/*
			 * charon lost what we loaded (restarted: config not found;
			 * credentials cleared: no private key):
			 * once more, fully; a full load is never cached, so this ends
			 */
			vpn_loaded_pending(vpn->cfg, p);
			if (vpn_remaining(deadline) > 500) {
				if (!notfound)
					VLOG(vpn, LOG_INFO, "%s: %s; reloading credentials and trying again",
					     p->name, vpn_unprefixed(p->name, err->msg));
				rc = vpn_load_profile(vpn, p, deadline, true, &cached, err);
				if (rc)
					return rc;
				notfound = false;
				goto again;
			}
		}
		if (rc == M2M_ERR_AUTH_LOCAL && p->auth == M2M_AUTH_TPM && !tpm_retried &&
		    (uint64_t)vpn_remaining(deadline) > m2m_now_ms() - started + 1000) {
			/*
			 * charon's TPM signer (libtpmtss, strongSwan 5.9) DER-encodes an
			 * ECDSA signature from the TPM's zero-padded r and s without
			 * stripping the padding: about 1 signature in 128 is not valid
			 * DER and the gateway refuses it. A new signature has a new
			 * random r and s; a real refusal just fails once more.
			 */
			tpm_retried = true;
			refused = *err;
			VLOG(vpn, LOG_INFO, "%s: %s; once more with a new TPM signature", p->name,
			     vpn_unprefixed(p->name, err->msg));
			goto again;
		}
		return rc;
	}
	if (!want_status)
		return M2M_OK;
	return vpn_query_sas(vpn, p, st, 2000, false, err);
}

/*
 * A failure that another try may fix (the gateway did not answer: loss, an
 * outage, charon's retransmits spent long before the caller's limit).
 * Authentication, credential, clock, proposal and config failures, and a
 * charon that is not there, end "up" at once.
 */
static bool try_again_helps(int rc)
{
	return rc == M2M_ERR_UNREACHABLE || rc == M2M_ERR_TIMEOUT;
}

/*
 * "up --timeout 20" means "try for up to 20 s": initiate again with the
 * profile's retry.network backoff (watch's rules) until the tunnel is up or
 * the time is spent, and then report the last failure. A step of the backoff
 * runs from the start of the attempt before: an attempt that charon spent
 * retransmitting for 4-7 s has paused long enough, and the next one starts at
 * once (at 30% loss, 1.4% of runs missed a 20 s budget with the pause after
 * each failure, 0.3% this way: bench/sim-up-loss.py).
 */
static int up_retrying(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p, uint64_t deadline,
		       bool want_status, struct m2m_vpn_status *st, struct m2m_err *err)
{
	uint64_t started = m2m_now_ms();
	struct m2m_err last = { 0 };
	unsigned tries = 0;
	int rc;

	for (;;) {
		uint64_t begun = m2m_now_ms(), spent;
		int left;
		unsigned delay;

		rc = do_up(vpn, p, deadline, want_status, st, err);
		tries++;
		if (!rc || !try_again_helps(rc) || (vpn->cancel && *vpn->cancel))
			break;
		if (rc != M2M_ERR_TIMEOUT)
			last = *err;
		/* the pause may take what an initiate and its teardown do not need */
		left = vpn_remaining(deadline) - CLEANUP_RESERVE_MS - MIN_TRY_MS;
		if (left <= 0)
			break;
		delay = m2m_backoff_ms(&p->retry_network, tries - 1);
		spent = m2m_now_ms() - begun;
		delay = delay > spent ? delay - (unsigned)spent : 0;
		if (delay > (unsigned)left)
			delay = (unsigned)left;
		VLOG(vpn, LOG_INFO, "%s; trying again in %.1f s", err->msg, delay / 1000.0);
		if (delay && !m2m_sleep_ms(delay, vpn->cancel))
			break;
	}
	if (rc == M2M_ERR_TIMEOUT && last.rc && !(vpn->cancel && *vpn->cancel)) {
		/* the last try was cut short by the limit: the one before says what is wrong */
		*err = last;
		rc = last.rc;
	}
	if (rc && tries > 1) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		m2m_err_set(err, rc, "%s; %u tries in %.1f s", msg, tries,
			    (m2m_now_ms() - started) / 1000.0);
	}
	return rc;
}

int m2m_vpn_up(struct m2m_vpn *vpn, const char *profile, unsigned timeout_ms,
	       struct m2m_vpn_status *status, struct m2m_err *caller_err)
{
	struct m2m_err local, *err = caller_err ? caller_err : &local;
	const struct m2m_vpn_profile *p = vpn_find_profile(vpn, profile, err);
	struct m2m_vpn_status st = { .state = M2M_VPN_STATE_DOWN };
	uint64_t deadline, outer;
	int rc, lock = -1;
	bool unproven;

	if (!p)
		return M2M_ERR_NOT_FOUND;
	deadline = m2m_now_ms() + (timeout_ms ? timeout_ms : p->timeout_ms ? p->timeout_ms : 30000);
	outer = vpn_limit_push(vpn, deadline);
	/* another up (or watch) may be mid-attempt: wait for it as long as we may */
	rc = vpn_profile_lock(vpn->cfg, p->name, (unsigned)vpn_remaining(deadline), &lock, err);
	if (rc) {
		vpn->limit = outer;
		return rc;
	}
	/*
	 * charon takes our registration for its log lines while we read our
	 * records (after the lock: a connection made before a long wait for it
	 * could meet a charon that restarted meanwhile)
	 */
	vpn_register_ahead(vpn, true);
	/* a swap's TPM or token that does not answer must not hold "up" past its limit */
	m2m_keystore_set_deadline(deadline);
	vpn_rekey_recover(vpn, p);
	unproven = vpn_cert_unproven(p);
	rc = up_retrying(vpn, p, deadline, status != NULL || unproven, &st, err);
	if (unproven && rc == M2M_ERR_AUTH_LOCAL && vpn_remaining(deadline) > CLEANUP_RESERVE_MS + MIN_TRY_MS &&
	    vpn_cert_fall_back(vpn, p))
		rc = up_retrying(vpn, p, deadline, true, &st, err);
	else if (unproven && !rc)
		vpn_cert_proven(vpn, p, &st);
	/* never up with its guard missing a rule (flushed while charon was connecting) */
	if (!rc && p->fail_closed && !vpn_guard_whole(vpn->cfg, p))
		rc = vpn_guard_enable(vpn->cfg, p, err);
	/* restart policies stay in charon only while the tunnel is meant to be up */
	if (rc && p->mode == M2M_VPN_ALWAYS_ON && st.state == M2M_VPN_STATE_DOWN &&
	    !(vpn->cancel && *vpn->cancel))
		vpn_unload_profile(vpn, p->name, false, vpn_budget(deadline));
	vpn->limit = outer;
	vpn_last_error_save(vpn->cfg, p->name, rc, rc ? err->msg : "");
	m2m_unlock(lock);
	if (!rc && status) {
		*status = st;
		status->guard_active = p->fail_closed && vpn_guard_whole(vpn->cfg, p);
	}
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * Taking a profile down (m2m_vpn_down: its SAs terminated, an always-on
 * profile's connection unloaded, the guard lifted) and out of charon for good
 * (m2m_vpn_forget, a wipe's). Bringing up and the status are vpn.c's.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "base/base.h"
#include "m2m/vpn.h"
#include "vici/vici.h"
#include "vpn/vpn_int.h"

/*
 * charon reports a terminate as failed when the gateway did not answer our
 * delete, though it removed the SA on our side all the same (force). What
 * decides is what is still installed: nothing of ours is a success, with a
 * warning that the gateway was not told (it drops its side by its own DPD).
 */
static int down_unconfirmed(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p, const char *em,
			    uint64_t deadline, struct m2m_err *err)
{
	struct m2m_vpn_status st;
	int rc = vpn_query_sas(vpn, p, &st, vpn_budget(deadline), false, err);

	if (rc)
		return m2m_err_prefix(err, "%s: terminate: %s; then", p->name, em);
	if (st.state != M2M_VPN_STATE_DOWN)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: terminate: %s; IKE SA #%u still %s",
				   p->name, em, st.ike_uniqueid, st.ike_state[0] ? st.ike_state : "there");
	VLOG(vpn, LOG_WARNING,
	     "%s: down, but the gateway could not be told (charon: %s); it drops its side when its dead-peer detection notices",
	     p->name, em);
	return M2M_OK;
}

/*
 * What down and forget do first: refuse a profile a watch keeps up (it would
 * come straight back: say so instead), then the run's limit and the
 * profile's lock. On M2M_OK the caller unlocks *lock and restores *outer.
 */
static int begin_taking_down(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p,
			     uint64_t deadline, uint64_t *outer, int *lock, struct m2m_err *err)
{
	int rc;

	if (vpn_watch_running(vpn->cfg, p->name))
		return m2m_err_set(err, M2M_ERR_BUSY,
				   "%s: kept up by a running 'm2mvpn-connect watch'; stop that first",
				   p->name);
	*outer = vpn_limit_push(vpn, deadline);
	rc = vpn_profile_lock(vpn->cfg, p->name, (unsigned)vpn_remaining(deadline), lock, err);
	if (rc)
		vpn->limit = *outer;
	return rc;
}

int m2m_vpn_down(struct m2m_vpn *vpn, const char *profile, unsigned timeout_ms,
		 struct m2m_err *caller_err)
{
	struct m2m_err local, *err = caller_err ? caller_err : &local;
	const struct m2m_vpn_profile *p = vpn_find_profile(vpn, profile, err);
	struct vici_node *resp = NULL;
	struct vici_buf b;
	char name[64];
	int rc, t, lock = -1;
	uint64_t deadline, outer;

	if (!p)
		return M2M_ERR_NOT_FOUND;
	deadline = m2m_now_ms() + (timeout_ms ? timeout_ms : 10000);
	rc = begin_taking_down(vpn, p, deadline, &outer, &lock, err);
	if (rc)
		return rc;
	vpn_conn_name(p->name, name, sizeof(name));
	rc = vpn_connect(vpn, err);
	if (rc == M2M_ERR_DAEMON && vpn->charon_absent) {
		/*
		 * no charon, no tunnel: down already; only the guard may remain.
		 * A socket we cannot use (permissions, not a socket) says nothing
		 * of charon: that fails, with its message.
		 */
		VLOG(vpn, LOG_INFO, "%s: %s; nothing to terminate", p->name,
		     vpn_unprefixed(p->name, err->msg));
		rc = M2M_OK;
		goto guard;
	}
	if (rc)
		goto out;
	vpn_sweep(vpn, vpn_budget(deadline));
	/* charon's own limit comes first, so that its answer arrives within ours */
	t = vpn_remaining(deadline) - VPN_ANSWER_SLACK_MS;
	if (t < 1)
		t = 1;
	vici_buf_init(&b);
	vici_add_kvs(&b, "ike", name);
	vici_add_kvs(&b, "force", "yes"); /* a dead peer must not hold us up */
	vici_add_kvf(&b, "timeout", "%d", t > 3000 ? 3000 : t);
	vici_add_kvs(&b, "loglevel", "-1");
	rc = vpn_request(vpn, "terminate", &b, &resp, NULL, NULL, t + 2000, err);
	vici_buf_free(&b);
	if (!rc) {
		const char *ok = vici_find_str(resp, "success");
		const char *em = vici_find_str(resp, "errmsg");

		if (ok && strcmp(ok, "yes") != 0 && !(em && strstr(em, "no matching")))
			rc = down_unconfirmed(vpn, p, em ? em : "failed", deadline, err);
	}
	vici_node_free(resp);
	resp = NULL;
	if (rc)
		goto out;
	/*
	 * unload an always-on profile, so charon's restart policies cannot bring it
	 * back; an on-demand one has none and stays loaded for a quick next "up"
	 * (loaded.c says why)
	 */
	if (p->mode == M2M_VPN_ALWAYS_ON)
		vpn_unload_profile(vpn, p->name, false, vpn_budget(deadline));
guard:
	rc = vpn_guard_disable(vpn->cfg, p, err);
	if (!rc)
		vpn_last_error_save(vpn->cfg, p->name, M2M_OK, "");
out:
	m2m_unlock(lock);
	vpn->limit = outer;
	return rc;
}

/* See m2m/vpn.h. */
int m2m_vpn_forget(struct m2m_vpn *vpn, const char *profile, unsigned timeout_ms,
		   struct m2m_err *caller_err)
{
	struct m2m_err local, *err = caller_err ? caller_err : &local;
	const struct m2m_vpn_profile *p = vpn_find_profile(vpn, profile, err);
	uint64_t deadline, outer;
	int rc, lock = -1;

	if (!p)
		return M2M_ERR_NOT_FOUND;
	deadline = m2m_now_ms() + (timeout_ms ? timeout_ms : 10000);
	rc = begin_taking_down(vpn, p, deadline, &outer, &lock, err);
	if (rc)
		return rc;
	rc = vpn_connect(vpn, err);
	if (rc == M2M_ERR_DAEMON && vpn->charon_absent) {
		/* no charon: it holds nothing; only the guard may remain */
		rc = M2M_OK;
	} else if (!rc && !vpn_unload_profile(vpn, p->name, true, vpn_budget(deadline))) {
		rc = m2m_err_set(err, vpn->vc ? M2M_ERR_FAILURE : M2M_ERR_TIMEOUT,
				 "%s: charon did not unload its connection or credentials%s", p->name,
				 vpn->vc ? " (its log says why)" : " in time");
	}
	if (!rc)
		rc = vpn_guard_disable(vpn->cfg, p, err);
	m2m_unlock(lock);
	vpn->limit = outer;
	return rc;
}

/* SPDX-License-Identifier: MIT */
/* The handle's connection to charon and its requests, used by everything that talks to it. */
#include <sys/socket.h>

#include "m2m/vpn.h"
#include "vici/vici.h"
#include "vpn/vpn_int.h"

void vpn_disconnect(struct m2m_vpn *vpn)
{
	vici_close(vpn->vc);
	vpn->vc = NULL;
	vpn->reg_control_log = vpn->reg_list_sa = false;
}

/* Connect to charon's VICI socket if not connected yet, waiting at most wait_ms (-1: the limit). */
static int connect_within(struct m2m_vpn *vpn, int wait_ms, struct m2m_err *err)
{
	const char *uri = vpn->cfg->charon.vici ? vpn->cfg->charon.vici : M2M_VICI_DEFAULT_URI;
	int rc;

	if (vpn->vc)
		return M2M_OK;
	rc = vici_connect_within(&vpn->vc, uri, vpn_cap(vpn, wait_ms), &vpn->charon_absent, err);
	if (!rc) {
		struct ucred cr;
		socklen_t len = sizeof(cr);

		vici_set_cancel(vpn->vc, vpn->cancel);
		/*
		 * which charon it is: where the fail-closed guard finds the
		 * tunnel's device, and whose connection list the sweep marks
		 */
		vpn->charon_pid = 0;
		if (getsockopt(vici_fd(vpn->vc), SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && cr.pid > 0) {
			vpn->charon_pid = (int)cr.pid;
			vpn_guard_charon((int)cr.pid);
		}
	}
	return rc;
}

int vpn_connect(struct m2m_vpn *vpn, struct m2m_err *err)
{
	return connect_within(vpn, -1, err);
}

/*
 * Connect now and register for event while the caller does its local work
 * (the lock, the records): charon reads one packet per wake, so what it has
 * read before our request arrives is off the critical path. Best effort: a
 * failure here is met again, and reported, by the request that follows.
 */
void vpn_register_ahead(struct m2m_vpn *vpn, bool control_log)
{
	bool *reg = control_log ? &vpn->reg_control_log : &vpn->reg_list_sa;
	struct m2m_err e;

	/* no wait for a charon whose listen queue is full: the request after us waits, and says so */
	if (*reg || connect_within(vpn, 0, &e))
		return;
	if (vici_register_ahead(vpn->vc, control_log ? "control-log" : "list-sa", vpn_cap(vpn, 1000)))
		*reg = true;
	else
		vpn_disconnect(vpn); /* a fresh connection that takes no small write: a new one then */
}

/*
 * The VICI module calls a stream it cannot read (a length out of range, a
 * packet type it does not know, a malformed message) a protocol error. To
 * whoever reads our exit status that is a broken local daemon (4); the
 * protocol class (12) is a failed negotiation and sends a technician to the
 * gateway.
 */
int vpn_local_rc(int rc, struct m2m_err *err)
{
	if (rc != M2M_ERR_PROTOCOL)
		return rc;
	if (err)
		err->rc = M2M_ERR_DAEMON;
	return M2M_ERR_DAEMON;
}

/* A request on the shared connection, within the handle's limit; a broken connection is dropped. */
int vpn_request(struct m2m_vpn *vpn, const char *cmd, struct vici_buf *req, struct vici_node **resp,
		vici_event_cb cb, void *ctx, int timeout_ms, struct m2m_err *err)
{
	int rc = vpn_connect(vpn, err);

	if (rc)
		return rc;
	if (req && (rc = vici_buf_check(req, err)))
		return rc;
	rc = vici_request(vpn->vc, cmd, req, resp, cb, ctx, vpn_cap(vpn, timeout_ms), err);
	rc = vpn_local_rc(rc, err);
	if (rc == M2M_ERR_DAEMON || rc == M2M_ERR_TIMEOUT)
		vpn_disconnect(vpn); /* the stream may be out of step now */
	return rc;
}

int vpn_pipeline(struct vpn_pipe *pp, vici_event_cb cb, void *ctx, int timeout_ms,
		 struct m2m_err *err)
{
	struct m2m_vpn *vpn = pp->vpn;
	int rc = vpn_connect(vpn, err);

	if (rc)
		return rc;
	rc = vici_pipeline(vpn->vc, pp->steps, pp->n, cb, ctx, vpn_cap(vpn, timeout_ms), err);
	rc = vpn_local_rc(rc, err);
	if (rc) {
		/* a registration charon refused leaves the handle's flags wrong: start over */
		vpn_disconnect(vpn);
		return rc;
	}
	for (size_t i = 0; i < pp->n; i++) {
		if (pp->steps[i].type != VICI_EVENT_REGISTER)
			continue;
		if (strcmp(pp->steps[i].name, "control-log") == 0)
			vpn->reg_control_log = true;
		else if (strcmp(pp->steps[i].name, "list-sa") == 0)
			vpn->reg_list_sa = true;
	}
	return rc;
}

void vpn_pipe_free(struct vpn_pipe *pp)
{
	for (size_t i = 0; i < pp->n; i++) {
		vici_node_free(pp->steps[i].resp);
		pp->steps[i].resp = NULL;
	}
}

int vpn_simple_cmd(struct m2m_vpn *vpn, const char *cmd, struct vici_buf *req, int timeout_ms,
		   struct m2m_err *err)
{
	struct vici_node *resp = NULL;
	int rc = vpn_request(vpn, cmd, req, &resp, NULL, NULL, timeout_ms, err);

	if (!rc)
		rc = vici_check_success(resp, cmd, err);
	vici_node_free(resp);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * Internal: the objects this client serves, filled from the config and the
 * system (one file each, obj_*.c; their table in objects.c).
 */
#ifndef M2M_LWM2M_OBJECTS_H
#define M2M_LWM2M_OBJECTS_H

#include <sys/types.h>

#include "lwm2m/lwm2m.h"
#include "m2m/config.h"
#include "m2m/dm.h"
#include "m2m/policy.h"
#include "m2m/vpn.h"

/*
 * The project's own object: VPN profiles and their certificates, one
 * instance per configured profile. ID from the private range 32769-42768
 * (not registered with OMNA); DDF in lwm2m/ddf/33810.xml.
 */
#define LW_OBJ_M2M_VPN 33810
/*
 * The project's security policy object (obj_policy.c): the quarantine, the
 * policies' last looks and the audit log's head, and the orders the
 * management server may give (policy.server): Release, Wipe. Private range
 * as 33810; DDF in lwm2m/ddf/33811.xml.
 */
#define LW_OBJ_M2M_POLICY 33811

struct lw_objects {
	const struct m2m_config *cfg;
	m2m_log_fn log;         /* the client's (m2m_dm_set_log), on its thread only; may be NULL */
	void *log_ctx;
	struct lw_object obj[LW_MAX_OBJ]; /* as in the table of objects.c */
	/* Server object state the server (or the bootstrap server) may write */
	unsigned ssid;          /* resource 0: 1, or what the bootstrap server wrote */
	unsigned disable_s;     /* resource 5, Disable Timeout: kept, there is no Disable */
	unsigned lifetime_s;
	unsigned binding;       /* enum m2m_dm_binding */
	unsigned dflt_pmin, dflt_pmax;
	bool notif_storing;     /* resource 6: store notifications while offline */
	bool mute_send;         /* resource 23: the server wants no Send */
	bool update_due;        /* lifetime or binding written, or Update triggered */
	/* Device object state */
	char utc_offset[16], timezone[64];
	const char *pending_hook; /* Reboot/Factory Reset: run once the answer is out */
	/* VPN Connect (6) or Disconnect (7) of a profile, likewise */
	bool vpn_pending;
	uint16_t vpn_inst, vpn_res;
	pid_t hook_pid;
	/* VPN status, cached for one second: a read of /33810 asks charon once */
	struct m2m_vpn *vpn_handle;
	struct m2m_vpn_status vst[LW_MAX_INST];
	int vst_rc[LW_MAX_INST];
	char vst_err[LW_MAX_INST][384];
	uint64_t vst_at;
	char scratch[512];      /* string values handed out by read callbacks */
	/* Firmware Update (obj_firmware.c): its worker and what it knows; NULL until used */
	struct lw_fw *fw;
	/* Security policy (obj_policy.c): m2m_policy_status() cached for one second */
	struct m2m_policy_status pst;
	int pst_rc;
	uint64_t pst_at;
	char pst_files[256];    /* the policy files as they were read (obj_policy.c) */
	char last_order[320];   /* resource 13: the last order and what came of it */
	/* a renewal the server ordered (obj_vpn.c): begun once its answer is out */
	m2m_dm_renew_fn renew_fn; /* NULL: this run does not renew (4.05) */
	void *renew_ctx;
	uint64_t run_end_ms;    /* a report run's end (m2m_now_ms()), which a renewal holds to; 0: none */
	volatile const int *run_stop; /* the caller's stop flag (may be NULL): a renewal ends with it */
	uint64_t renew_at[LW_MAX_INST]; /* when each profile's last ordered renewal began */
	char renewed[LW_MAX_INST][384]; /* resource 15 of each profile: the last ordered renewal */
	struct lw_renewal *renewal; /* the one under way, in its worker (obj_vpn_renew.c); NULL: none */
	/* why the outcomes of the last orders (orders.c) were not read back; rc 0: they were */
	struct m2m_err orders_why;
	/* a Wipe the server ordered: done by the run (run.c) once the client de-registered */
	m2m_dm_wipe_fn wipe_fn; /* NULL: this run does not wipe (4.05) */
	void *wipe_ctx;
	bool wipe_due;
	char wipe_reason[320];
};

/* Build every object into reg. */
int lw_objects_init(struct lw_objects *objs, const struct m2m_config *cfg,
		    struct lw_registry *reg);
struct lw_bs_server;
/* The Security and Server instances and what the bootstrap server wrote into them. */
void lw_objects_bootstrapped(struct lw_objects *objs, const struct lw_bs_server *bs);
void lw_objects_free(struct lw_objects *objs);
/* Start a pending hook (after the Execute was answered); reap finished ones. */
void lw_objects_run_hooks(struct lw_objects *objs);
/*
 * Something under way that the serving loop looks at often, not only when a
 * datagram comes: a hook running or due, a VPN Connect or Disconnect due, an
 * ordered renewal's worker, the update engine's worker or a push (its lines
 * to log, its end to join).
 */
bool lw_objects_busy(const struct lw_objects *objs);
/*
 * A renewal the server ordered is under way, or due once its answer is out
 * (obj_vpn_renew.c): a report run serves on until it ends, within its bound.
 */
bool lw_objects_renewing(const struct lw_objects *objs);
/*
 * A configuration package ordered through object 5 ended (committed or
 * rolled back) since the objects were built: the configuration file is not
 * the one they were built from any more (obj_firmware.c).
 */
bool lw_objects_reconfigured(struct lw_objects *objs);

#endif

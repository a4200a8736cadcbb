/* SPDX-License-Identifier: MIT */
/*
 * What watch.c (the supervision: the helper thread, the step, open and
 * close), watch_live.c (the gateway's answers on each IKE SA) and
 * watch_guard.c (the fail-closed guards while watch runs) share.
 */
#ifndef M2M_VPN_WATCH_INT_H
#define M2M_VPN_WATCH_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "m2m/vpn.h"
#include "net/net.h"
#include "vici/vici.h"

/* a request unanswered this long is not an answer on its way: the SA is unconfirmed */
#define UNANSWERED_MS 2000

struct watched {
	const struct m2m_vpn_profile *p;
	int lock;
	unsigned fails;
	uint64_t next;
	enum m2m_vpn_state last;
	int last_rc;
	/* the gateway's answers on our IKE SA, from charon's log stream (the step's) */
	unsigned ike_id;        /* the IKE SA the lines below are about; 0 not known yet */
	uint64_t quiet_since;   /* first request of ours still unanswered (monotonic), 0 none */
	time_t quiet_wall;      /* the same on the wall clock, for "status" */
	bool unconfirmed;       /* said so: logged, and in the state directory */
	bool no_path;           /* charon had no route to the gateway meanwhile */
	uint64_t path_back;     /* when charon could send again after no_path, 0 not yet */
	bool restart;           /* check(): drop ike_id and initiate a new IKE SA */
	unsigned first_step;    /* retry.network's first step: how long a returned path may stay silent */
	char why[96];           /* what showed it */
	char *held;             /* the guard's rules the watch's own copy holds */
};

/* What the helper thread does next: connect the event stream, or look after one profile. */
enum job { JOB_NONE, JOB_EVENTS, JOB_PROFILE };

struct logline {
	struct logline *next;
	int prio;
	char msg[];
};

struct m2m_vpn_watch {
	const struct m2m_config *cfg;
	struct watched *w;
	size_t n;
	m2m_log_fn log;
	void *log_ctx;
	struct m2m_vpn *vpn;       /* the helper's: charon's requests */
	struct vici_conn *ev;      /* charon's events, read by the step */
	uint64_t ev_retry;
	bool ev_lost;
	volatile int closing;      /* the helper's attempt in progress gives up */
	int epfd, wake, timer;     /* wake: the helper's eventfd */
	int ev_armed;              /* the event fd in epfd now, or -1 */
	size_t cursor;             /* round robin over the profiles */
	struct net_nft *hold;      /* owns the guards' copies (flags owner), or NULL */
	int nftmon;                /* nftables' change notifications, or -1 */
	uint64_t guard_next;       /* the next look at the guards without a notification */

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;        /* guards what follows, and hands w[] back and forth */
	pthread_cond_t cv;
	enum job job;
	size_t job_idx;
	bool job_done, quit;
	struct logline *q, **q_tail; /* the helper's log lines, for the step to deliver */
};

/* A line for the caller's log callback: at once on the caller's thread, queued on the helper's. */
__attribute__((format(printf, 3, 4))) void vpn_wlog(struct m2m_vpn_watch *wa, int prio,
						    const char *fmt, ...);
#define WLOG(wa, prio, ...) vpn_wlog(wa, prio, __VA_ARGS__)

/* watch_live.c: one of charon's log lines about IKE SA id of w's profile */
void vpn_live_log(struct m2m_vpn_watch *wa, struct watched *w, unsigned id, const char *m);
/* the gateway answered on this IKE SA (or a new one is up) */
void vpn_live_confirmed(struct m2m_vpn_watch *wa, struct watched *w, const char *how);
/* nothing is known about the gateway's answers (again) */
void vpn_live_forget(struct m2m_vpn_watch *wa, struct watched *w);
/* what is due from the answers seen; the next time this needs a look (or UINT64_MAX) */
uint64_t vpn_live_due(struct m2m_vpn_watch *wa, uint64_t now);

/* watch_guard.c: the guards while watch runs */
#define GUARD_CHECK_MS 1000 /* the guards looked at without a notification (safety net) */
/* put the watch's copies and the notifications in place (a warning, not a failure, without) */
int vpn_watch_guards(struct m2m_vpn_watch *wa, struct m2m_err *err);
/* look at the guards now if changed, else if GUARD_CHECK_MS has passed; put back what is not whole */
void vpn_keep_guards(struct m2m_vpn_watch *wa, bool changed);
/* ms until the guards' next look without a notification */
unsigned vpn_guard_due(const struct m2m_vpn_watch *wa);
/* the copies and the notifications go; the guards stay */
void vpn_watch_guards_close(struct m2m_vpn_watch *wa);

#endif

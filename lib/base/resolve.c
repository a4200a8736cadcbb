/* SPDX-License-Identifier: MIT */
/*
 * A name lookup with a time limit. getaddrinfo() waits as long as the
 * resolver's own retries take (glibc: 5 s per try, 2 tries, each name server
 * in turn), which no caller's --timeout bounds. So it runs in a thread of its
 * own, detached, and the caller waits for it at most until its limit or its
 * stop flag. The control block has two references, the caller's and the
 * thread's, under one mutex: whichever lets go last frees it, so a lookup
 * given up on writes into nothing freed and leaks nothing. The thread blocks
 * every signal, so that a SIGTERM still interrupts the caller's waits.
 * (getaddrinfo_a() was the first way: its failure paths may still run or
 * notify a request it reported as failed, and its notification thread takes
 * signals.)
 *
 * A lookup given up on still runs until the resolver gives up (glibc: 5 s a
 * try, 2 tries, each name server in turn; longer with resolv.conf's options),
 * and a long-running caller that tries again every second (a watch, a
 * --serve registration) would add a thread each time. So at most
 * M2M_RESOLVE_MAX_PENDING run at once in a process: a lookup beyond waits,
 * within its own limit, for one to end, and fails if none does.
 */
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"

#define RESOLVE_SLICE_MS 100 /* how often a stop flag is looked at */

/* the lookup threads running in this process, given up on or not */
static pthread_mutex_t pending_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pending_cv; /* on CLOCK_MONOTONIC: a thread ended */
static pthread_once_t pending_once = PTHREAD_ONCE_INIT;
static unsigned pending;

static void pending_init(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pending_cv, &ca);
	pthread_condattr_destroy(&ca);
}

unsigned m2m_resolve_pending(void)
{
	unsigned n;

	pthread_mutex_lock(&pending_mu);
	n = pending;
	pthread_mutex_unlock(&pending_mu);
	return n;
}

/* an absolute CLOCK_MONOTONIC time slice_ms from now */
static void after_ms(struct timespec *ts, uint64_t slice_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(slice_ms / 1000);
	ts->tv_nsec += (long)(slice_ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* A place among the lookups that may run, by end (m2m_now_ms) or *stop; false if none came. */
static bool pending_take(uint64_t end, volatile const int *stop)
{
	bool got;

	pthread_once(&pending_once, pending_init);
	pthread_mutex_lock(&pending_mu);
	for (;;) {
		uint64_t now = m2m_now_ms();
		struct timespec ts;

		if ((got = pending < M2M_RESOLVE_MAX_PENDING) || (stop && *stop) || now >= end)
			break;
		after_ms(&ts, end - now < RESOLVE_SLICE_MS ? end - now : RESOLVE_SLICE_MS);
		pthread_cond_timedwait(&pending_cv, &pending_mu, &ts);
	}
	if (got)
		pending++;
	pthread_mutex_unlock(&pending_mu);
	return got;
}

static void pending_give(void)
{
	pthread_mutex_lock(&pending_mu);
	pending--;
	pthread_cond_signal(&pending_cv);
	pthread_mutex_unlock(&pending_mu);
}

struct lookup {
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* on CLOCK_MONOTONIC */
	int refs;                /* under mu: the caller's and the thread's */
	bool done;               /* under mu */
	int rc;                  /* under mu, once done */
	struct addrinfo *res;    /* under mu, once done */
	struct addrinfo hints;
	char *host, *port;
};

static void lookup_free(struct lookup *l)
{
	if (l->res)
		freeaddrinfo(l->res);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l->host);
	free(l->port);
	free(l);
}

/* let go of one reference; the last frees */
static void unref(struct lookup *l)
{
	bool last;

	pthread_mutex_lock(&l->mu);
	last = --l->refs == 0;
	pthread_mutex_unlock(&l->mu);
	if (last)
		lookup_free(l);
}

static void *lookup_run(void *arg)
{
	struct lookup *l = arg;
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(l->host, l->port, &l->hints, &res);

	pthread_mutex_lock(&l->mu);
	l->rc = rc;
	l->res = res;
	l->done = true;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	unref(l);
	pending_give();
	return NULL;
}

static struct lookup *lookup_new(const char *host, const char *port,
				 const struct addrinfo *hints)
{
	struct lookup *l = calloc(1, sizeof(*l));
	pthread_condattr_t ca;

	if (!l)
		return NULL;
	if (!(l->host = strdup(host)) || (port && !(l->port = strdup(port)))) {
		free(l->host);
		free(l);
		return NULL;
	}
	if (hints)
		l->hints = *hints;
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	l->refs = 2;
	return l;
}

/* the thread, detached, with every signal blocked (they are the caller's to take) */
static bool lookup_start(struct lookup *l)
{
	sigset_t all, old;
	pthread_attr_t a;
	pthread_t t;
	bool ok;

	sigfillset(&all);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ok = pthread_create(&t, &a, lookup_run, l) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	return ok;
}

int m2m_resolve(const char *host, const char *port, const struct addrinfo *hints,
		unsigned timeout_ms, volatile const int *stop, struct addrinfo **out,
		struct m2m_err *err)
{
	uint64_t end = m2m_now_ms() + timeout_ms;
	struct lookup *l;
	bool done, stopped = false;
	int rc = 0;

	*out = NULL;
	if (!pending_take(end, stop))
		return stop && *stop ? m2m_err_set(err, M2M_ERR_TIMEOUT, "%s: name lookup stopped", host) :
		       m2m_err_set(err, M2M_ERR_UNREACHABLE,
				   "%s: no name lookup within %u ms: %u earlier ones still wait for the name server",
				   host, timeout_ms, (unsigned)M2M_RESOLVE_MAX_PENDING);
	l = lookup_new(host, port, hints);
	if (!l) {
		pending_give();
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	if (!lookup_start(l)) {
		lookup_free(l);
		pending_give();
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: cannot start the name lookup", host);
	}
	pthread_mutex_lock(&l->mu);
	for (;;) {
		uint64_t now = m2m_now_ms(), slice;
		struct timespec ts;

		/* a stop first: stopping is never undone by a lookup that ended meanwhile */
		if ((stopped = stop && *stop) || l->done || now >= end)
			break;
		slice = end - now < RESOLVE_SLICE_MS ? end - now : RESOLVE_SLICE_MS;
		after_ms(&ts, slice);
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	}
	done = l->done && !stopped;
	if (done) {
		rc = l->rc;
		*out = l->res;
		l->res = NULL;
	}
	pthread_mutex_unlock(&l->mu);
	unref(l);
	if (!done)
		return stopped ? m2m_err_set(err, M2M_ERR_TIMEOUT, "%s: name lookup stopped", host) :
				 m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: no answer to the name "
					     "lookup within %u ms", host, timeout_ms);
	if (rc)
		return m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: %s", host, gai_strerror(rc));
	return M2M_OK;
}

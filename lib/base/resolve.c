/* SPDX-License-Identifier: MIT */
/*
 * A name lookup with a time limit. getaddrinfo() waits as long as the
 * resolver's own retries take (glibc: 5 s per try, 2 tries, each name server
 * in turn), which no caller's --timeout bounds; getaddrinfo_a() runs it in a
 * thread of glibc's and lets us stop waiting. A lookup given up on still runs
 * to its end: its control block then belongs to the notification that glibc
 * calls once it is done (two references, the last one frees it), so nothing
 * leaks and nothing is written to freed memory.
 */
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"

struct lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char *host, *port;
	atomic_int refs; /* the waiter's and the notification's */
};

static void unref(struct lookup *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	if (l->cb.ar_result)
		freeaddrinfo(l->cb.ar_result);
	free(l->host);
	free(l->port);
	free(l);
}

static void lookup_done(union sigval sv)
{
	unref(sv.sival_ptr);
}

int m2m_resolve(const char *host, const char *port, const struct addrinfo *hints,
		unsigned timeout_ms, struct addrinfo **out, struct m2m_err *err)
{
	uint64_t end = m2m_now_ms() + timeout_ms;
	struct gaicb *list[1];
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD };
	struct lookup *l;
	int rc;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l || !(l->host = strdup(host)) || (port && !(l->port = strdup(port)))) {
		if (l)
			free(l->host);
		free(l);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	if (hints)
		l->hints = *hints;
	l->cb.ar_name = l->host;
	l->cb.ar_service = l->port;
	l->cb.ar_request = &l->hints;
	atomic_init(&l->refs, 2);
	sev.sigev_notify_function = lookup_done;
	sev.sigev_value.sival_ptr = l;
	list[0] = &l->cb;
	rc = getaddrinfo_a(GAI_NOWAIT, list, 1, &sev);
	if (rc) {
		atomic_store(&l->refs, 1); /* no notification comes */
		unref(l);
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: name lookup: %s", host, gai_strerror(rc));
	}
	for (;;) {
		uint64_t now = m2m_now_ms();
		struct timespec ts;

		if (gai_error(&l->cb) != EAI_INPROGRESS || now >= end)
			break;
		ts.tv_sec = (time_t)((end - now) / 1000);
		ts.tv_nsec = (long)((end - now) % 1000) * 1000000;
		gai_suspend((const struct gaicb *const *)list, 1, &ts);
	}
	rc = gai_error(&l->cb);
	if (rc == EAI_INPROGRESS) {
		/* a lookup still queued is taken back (and never notified); a running one ends alone */
		if (gai_cancel(&l->cb) == EAI_CANCELED)
			atomic_store(&l->refs, 1);
		unref(l);
		return m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: no answer to the name lookup "
				   "within %u ms", host, timeout_ms);
	}
	if (rc) {
		unref(l);
		return m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: %s", host, gai_strerror(rc));
	}
	*out = l->cb.ar_result;
	l->cb.ar_result = NULL;
	unref(l);
	return M2M_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * libcrypto on first use. Loading and relocating libcrypto costs a process
 * start more than everything else the tool does (1-3 ms: its own relocations
 * and the pages they dirty), yet "status" and an "up" whose credentials charon
 * still holds never call it. On x86-64 the Makefile links this tool against
 * stubs (scripts/lazy-stubs) instead of libcrypto: the first call of any
 * OpenSSL function lands here, which loads it and fills the stubs' table.
 * Elsewhere nothing refers to this and the tool links libcrypto as usual.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

#include "m2m/m2m.h"

void *m2m_lazy_resolve(unsigned i);

/* from the generated stubs; absent (NULL) when the tool links libcrypto itself */
extern void *m2m_lazy_tab[] __attribute__((weak));
extern const char *const m2m_lazy_names[] __attribute__((weak));
extern const unsigned m2m_lazy_count __attribute__((weak));
extern const char m2m_lazy_soname[] __attribute__((weak));

void *m2m_lazy_resolve(unsigned i)
{
	void *h = dlopen(m2m_lazy_soname, RTLD_NOW | RTLD_GLOBAL);

	if (!h) {
		/* nothing to return to: the caller expects the function */
		fprintf(stderr, "m2mvpn-connect: %s\n", dlerror());
		_exit(M2M_ERR_FAILURE);
	}
	for (unsigned j = 0; j < m2m_lazy_count; j++) {
		void *f = dlsym(h, m2m_lazy_names[j]);

		if (!f) {
			fprintf(stderr, "m2mvpn-connect: %s has no %s\n", m2m_lazy_soname,
				m2m_lazy_names[j]);
			_exit(M2M_ERR_FAILURE);
		}
		/* another thread may do the same at once: it writes the same address */
		__atomic_store_n(&m2m_lazy_tab[j], f, __ATOMIC_RELEASE);
	}
	return m2m_lazy_tab[i];
}

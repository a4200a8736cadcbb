/* SPDX-License-Identifier: MIT */
/*
 * libcrypto and json-c on first use. Loading and relocating a library costs a
 * process start more than most of what the tool does (libcrypto 1-3 ms: its
 * own relocations and the pages they dirty; json-c about 0.3 ms), yet
 * "status" and an "up" whose credentials charon still holds never call
 * libcrypto, and only --json calls json-c. On x86-64 the Makefile links this
 * tool against stubs (scripts/lazy-stubs) instead of those libraries: the
 * first call of any of a library's functions lands here, which loads it and
 * fills that library's table. Elsewhere nothing refers to this and the tool
 * links both as usual.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

#include "m2m/m2m.h"

/* one library's stubs, as scripts/lazy-stubs lays them out */
struct m2m_lazy_lib {
	void **tab;
	const char *const *names;
	const char *soname;
	unsigned count;
};

void *m2m_lazy_resolve(const struct m2m_lazy_lib *lib, unsigned i);

void *m2m_lazy_resolve(const struct m2m_lazy_lib *lib, unsigned i)
{
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_GLOBAL);

	if (!h) {
		/* nothing to return to: the caller expects the function */
		fprintf(stderr, "m2mvpn-connect: %s\n", dlerror());
		_exit(M2M_ERR_FAILURE);
	}
	for (unsigned j = 0; j < lib->count; j++) {
		void *f = dlsym(h, lib->names[j]);

		if (!f) {
			fprintf(stderr, "m2mvpn-connect: %s has no %s\n", lib->soname, lib->names[j]);
			_exit(M2M_ERR_FAILURE);
		}
		/* another thread may do the same at once: it writes the same address */
		__atomic_store_n(&lib->tab[j], f, __ATOMIC_RELEASE);
	}
	return lib->tab[i];
}

/* SPDX-License-Identifier: MIT */
/*
 * nftables through libnftables, loaded with dlopen() when first used: most
 * runs (status, a profile without fail_closed) never touch a rule, and
 * libnftables (with its five dependencies) costs start-up time and resident
 * memory on small devices. Only its header is needed at build time.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dlfcn.h>
#include <nftables/libnftables.h>

#include "base/base.h"
#include "net/net.h"

static struct {
	void *h;
	struct nft_ctx *(*ctx_new)(uint32_t);
	void (*ctx_free)(struct nft_ctx *);
	int (*buffer_output)(struct nft_ctx *);
	int (*buffer_error)(struct nft_ctx *);
	const char *(*get_error)(struct nft_ctx *);
	const char *(*get_output)(struct nft_ctx *);
	void (*set_output_flags)(struct nft_ctx *, unsigned int);
	int (*run)(struct nft_ctx *, const char *);
} nftlib;

static pthread_once_t nft_once = PTHREAD_ONCE_INIT;

/* once per process, also when the watch's two threads get here together */
static void nft_load_once(void)
{
	nftlib.h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!nftlib.h)
		return;
	*(void **)&nftlib.ctx_new = dlsym(nftlib.h, "nft_ctx_new");
	*(void **)&nftlib.ctx_free = dlsym(nftlib.h, "nft_ctx_free");
	*(void **)&nftlib.buffer_output = dlsym(nftlib.h, "nft_ctx_buffer_output");
	*(void **)&nftlib.buffer_error = dlsym(nftlib.h, "nft_ctx_buffer_error");
	*(void **)&nftlib.get_error = dlsym(nftlib.h, "nft_ctx_get_error_buffer");
	*(void **)&nftlib.get_output = dlsym(nftlib.h, "nft_ctx_get_output_buffer");
	*(void **)&nftlib.set_output_flags = dlsym(nftlib.h, "nft_ctx_output_set_flags");
	*(void **)&nftlib.run = dlsym(nftlib.h, "nft_run_cmd_from_buffer");
	if (!nftlib.ctx_new || !nftlib.ctx_free || !nftlib.buffer_output || !nftlib.buffer_error ||
	    !nftlib.get_error || !nftlib.get_output || !nftlib.set_output_flags || !nftlib.run) {
		dlclose(nftlib.h);
		nftlib.h = NULL;
	}
}

static bool nft_load(void)
{
	pthread_once(&nft_once, nft_load_once);
	return nftlib.h != NULL;
}

struct net_nft {
	struct nft_ctx *ctx;
};

int net_nft_open(struct net_nft **out, struct m2m_err *err)
{
	struct net_nft *n;

	*out = NULL;
	if (!nft_load())
		return m2m_err_set(err, M2M_ERR_FAILURE,
				   "libnftables.so.1 not found (install libnftables1)");
	n = calloc(1, sizeof(*n));
	if (!n)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	n->ctx = nftlib.ctx_new(NFT_CTX_DEFAULT);
	if (!n->ctx) {
		free(n);
		return m2m_err_set(err, M2M_ERR_FAILURE, "nftables unavailable");
	}
	/* nft's output and errors are for us to read, never for the caller's stdout */
	nftlib.buffer_output(n->ctx);
	nftlib.buffer_error(n->ctx);
	/* listings without counter values: two of the same rules read the same */
	nftlib.set_output_flags(n->ctx, NFT_CTX_OUTPUT_STATELESS);
	*out = n;
	return M2M_OK;
}

void net_nft_close(struct net_nft *n)
{
	if (!n)
		return;
	nftlib.ctx_free(n->ctx);
	free(n);
}

int net_nft_exec(struct net_nft *n, const char *script, bool quiet, char **output,
		 struct m2m_err *err)
{
	int rc;

	if (output)
		*output = NULL;
	rc = nftlib.run(n->ctx, script);
	if (rc != 0 && !quiet) {
		const char *e = nftlib.get_error(n->ctx);
		char line[200] = "";

		if (e) {
			size_t len = strcspn(e, "\n");

			snprintf(line, sizeof(line), "%.*s", (int)len, e);
		}
		m2m_err_set(err, M2M_ERR_FAILURE, "nftables: %s",
			    line[0] ? line : "command failed (CAP_NET_ADMIN?)");
	}
	if (rc == 0 && output) {
		const char *o = nftlib.get_output(n->ctx);

		*output = strdup(o ? o : "");
		if (!*output)
			return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	return rc == 0 ? M2M_OK : M2M_ERR_FAILURE;
}

int net_nft_run(const char *script, bool quiet, char **output, struct m2m_err *err)
{
	struct net_nft *n;
	int rc;

	if (output)
		*output = NULL;
	rc = net_nft_open(&n, quiet ? NULL : err);
	if (rc)
		return rc;
	rc = net_nft_exec(n, script, quiet, output, err);
	net_nft_close(n);
	return rc;
}

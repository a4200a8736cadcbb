/* SPDX-License-Identifier: MIT */
/*
 * nftables through libnftables, loaded with dlopen() when first used: most
 * runs (status, a profile without fail_closed) never touch a rule, and
 * libnftables (with its five dependencies) costs start-up time and resident
 * memory on small devices. Only its header is needed at build time.
 */
#include <stdio.h>
#include <string.h>

#include <dlfcn.h>
#include <nftables/libnftables.h>

#include "base/base.h"
#include "net/net.h"

static struct {
	bool tried;
	void *h;
	struct nft_ctx *(*ctx_new)(uint32_t);
	void (*ctx_free)(struct nft_ctx *);
	int (*buffer_output)(struct nft_ctx *);
	int (*buffer_error)(struct nft_ctx *);
	const char *(*get_error)(struct nft_ctx *);
	int (*run)(struct nft_ctx *, const char *);
} nftlib;

static bool nft_load(void)
{
	if (nftlib.tried)
		return nftlib.h != NULL;
	nftlib.tried = true;
	nftlib.h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!nftlib.h)
		return false;
	*(void **)&nftlib.ctx_new = dlsym(nftlib.h, "nft_ctx_new");
	*(void **)&nftlib.ctx_free = dlsym(nftlib.h, "nft_ctx_free");
	*(void **)&nftlib.buffer_output = dlsym(nftlib.h, "nft_ctx_buffer_output");
	*(void **)&nftlib.buffer_error = dlsym(nftlib.h, "nft_ctx_buffer_error");
	*(void **)&nftlib.get_error = dlsym(nftlib.h, "nft_ctx_get_error_buffer");
	*(void **)&nftlib.run = dlsym(nftlib.h, "nft_run_cmd_from_buffer");
	if (!nftlib.ctx_new || !nftlib.ctx_free || !nftlib.buffer_output || !nftlib.buffer_error ||
	    !nftlib.get_error || !nftlib.run) {
		dlclose(nftlib.h);
		nftlib.h = NULL;
	}
	return nftlib.h != NULL;
}

int net_nft_run(const char *script, bool quiet, struct m2m_err *err)
{
	struct nft_ctx *nft;
	int rc;

	if (!nft_load())
		return m2m_err_set(err, M2M_ERR_FAILURE,
				   "libnftables.so.1 not found (install libnftables1)");
	nft = nftlib.ctx_new(NFT_CTX_DEFAULT);
	if (!nft)
		return m2m_err_set(err, M2M_ERR_FAILURE, "nftables unavailable");
	/* nft's output and errors are for us to read, never for the caller's stdout */
	nftlib.buffer_output(nft);
	nftlib.buffer_error(nft);
	rc = nftlib.run(nft, script);
	if (rc != 0 && !quiet) {
		const char *e = nftlib.get_error(nft);
		char line[200] = "";

		if (e) {
			size_t n = strcspn(e, "\n");

			snprintf(line, sizeof(line), "%.*s", (int)n, e);
		}
		m2m_err_set(err, M2M_ERR_FAILURE, "nftables: %s",
			    line[0] ? line : "command failed (CAP_NET_ADMIN?)");
	}
	nftlib.ctx_free(nft);
	return rc == 0 ? M2M_OK : M2M_ERR_FAILURE;
}

/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: sequences of whole CoAP datagrams from the management server,
 * end to end through the client's request handling: libcoap's parser, our
 * block-wise reassembly and limits (lib/coap/block.c), If-Match, the LwM2M
 * request handler and its objects. The fuzzer plays the server on a UDP
 * socket of 127.0.0.1 that the client's session is connected to; the client
 * is opened anew for every input, so a crash reproduces from that input alone.
 * Run with -rss_limit_mb (scripts/check does): a body sized from a peer's
 * claim (Size1), as libcoap's reassembly did, is found as a memory fault.
 *
 * Input: records of [length: 2 bytes, big endian][datagram], at most 64.
 */
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coap/coap.h"
#include "lwm2m/lwm2m.h"
#include "m2m/config.h"
#include "m2m/dm.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int srv = -1;
static struct m2m_config *cfg;
static char dir[] = "/tmp/m2m-fuzz-dm.XXXXXX";

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* the run's directory goes when the fuzzer exits (its time is up, or a finding) */
static void cleanup(void)
{
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	char path[128];
	struct m2m_err err;
	FILE *f;

	srv = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (srv < 0 || bind(srv, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(srv, (struct sockaddr *)&a, &alen) || !mkdtemp(dir))
		abort();
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/m2m.yaml", dir);
	f = fopen(path, "w");
	if (!f)
		abort();
	fprintf(f, "version: 1\ndevice: {id: fuzz, manufacturer: m2m, model: fuzz}\n"
		   "state_dir: %s/state\ncharon: {vici: \"unix://%s/none.vici\"}\n"
		   "dm: {server: \"coap://127.0.0.1:%u\", security: nosec, block_size: 64}\n",
		dir, dir, ntohs(a.sin_port));
	fclose(f);
	if (m2m_config_load(path, &cfg, &err)) {
		fprintf(stderr, "fuzz_dm_requests: %s\n", err.msg);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct m2m_coap *c;
	struct m2m_dm *dm;
	struct m2m_err err;
	uint8_t drain[2048];
	size_t off = 0;

	if (m2m_dm_open(cfg, &dm, &err))
		return 0;
	c = lw_dm_coap(dm);
	to.sin_port = htons((uint16_t)mcoap_local_port(c));
	for (int n = 0; n < 64 && off + 2 <= size; n++) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];

		off += 2;
		if (len > size - off)
			len = size - off;
		if (sendto(srv, data + off, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			break;
		off += len;
		mcoap_process(c, 1); /* 0 would wait until something happens */
		while (recv(srv, drain, sizeof(drain), 0) > 0)
			;
	}
	m2m_dm_close(dm);
	while (recv(srv, drain, sizeof(drain), 0) > 0)
		;
	return 0;
}

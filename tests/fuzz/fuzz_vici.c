/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the VICI decoder: everything charon (or whatever
 * listens on its socket) may send us. The input is a packet payload, i.e.
 * what follows the u32 length prefix on the wire.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vici/vici.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch every byte of the tree so ASan sees any bad pointer or length. */
static size_t walk(const struct vici_node *n)
{
	size_t sum = 0;

	for (; n; n = n->next) {
		if (n->name)
			sum += strlen(n->name);
		if (n->value) {
			if (n->value[n->vlen] != '\0')
				abort();
			sum += n->vlen ? (uint8_t)n->value[n->vlen - 1] : 0;
		}
		sum += walk(n->child);
	}
	return sum;
}

static void decode_all(const uint8_t *body, size_t len)
{
	struct vici_node *tree = NULL;
	struct m2m_err err;
	char *s;

	if (vici_decode(body, len, &tree, &err) != M2M_OK) {
		/* failures must say so, and leave nothing behind */
		if (tree || err.rc != M2M_ERR_PROTOCOL)
			abort();
		return;
	}
	walk(tree);
	s = vici_dump(tree);
	free(s);
	/* the lookups a caller makes on answers and events */
	vici_find_yes(tree, "success");
	vici_check_success(tree, "fuzz", &err);
	vici_find_str(tree, "gw.child-sas.net-1.state");
	vici_find(tree, "a.b.c.d.e.f.g");
	vici_node_free(tree);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *body;
	const char *name;
	size_t nlen, blen;
	struct m2m_err err;
	int type;

	if (vici_packet_split(data, size, &type, &name, &nlen, &body, &blen, &err) == M2M_OK) {
		if (name && (nlen == 0 || nlen > 255 || name + nlen > (const char *)body))
			abort();
		decode_all(body, blen);
	}
	/* the same bytes as a bare message body reach other decoder paths */
	decode_all(data, size);
	return 0;
}

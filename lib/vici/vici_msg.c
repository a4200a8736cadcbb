/* SPDX-License-Identifier: MIT */
/*
 * VICI messages: building a request body, decoding a received one into a
 * tree, looking values up in that tree, and splitting a packet into its
 * header and body.
 *
 * Everything here is written against the wire format described in vici.h
 * and never trusts a length it has not checked against the buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vici/vici.h"

/* ---- building ------------------------------------------------------------ */

void vici_buf_init(struct vici_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void vici_buf_free(struct vici_buf *b)
{
	if (!b)
		return;
	/* request bodies carry PINs and private keys: leave nothing behind */
	if (b->data)
		explicit_bzero(b->data, b->cap);
	free(b->data);
	vici_buf_init(b);
}

static void buf_fail(struct vici_buf *b, const char *why)
{
	/* the first error is the interesting one; keep it */
	if (!b->error)
		b->error = why;
}

/*
 * Make room for n more bytes. Growing copies by hand rather than with
 * realloc() so that the old block, which may hold secrets, is wiped before
 * it goes back to the allocator.
 */
static bool buf_reserve(struct vici_buf *b, size_t n)
{
	uint8_t *nd;
	size_t ncap;

	if (b->error)
		return false;
	if (n > VICI_MAX_PACKET || b->len > VICI_MAX_PACKET - n) {
		buf_fail(b, "message too large");
		return false;
	}
	if (b->len + n <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + n)
		ncap *= 2;
	if (ncap > VICI_MAX_PACKET)
		ncap = VICI_MAX_PACKET;
	nd = malloc(ncap);
	if (!nd) {
		buf_fail(b, "out of memory");
		return false;
	}
	if (b->data) {
		memcpy(nd, b->data, b->len);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = nd;
	b->cap = ncap;
	return true;
}

static void put_u8(struct vici_buf *b, uint8_t v)
{
	b->data[b->len++] = v;
}

static void put_u16(struct vici_buf *b, uint16_t v)
{
	b->data[b->len++] = v >> 8;
	b->data[b->len++] = v & 0xff;
}

static void put_bytes(struct vici_buf *b, const void *p, size_t n)
{
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Check a name (section, key, list); NULL if fine, else why not. */
static const char *name_problem(const char *name, size_t *n)
{
	if (!name)
		return "missing name";
	*n = strlen(name);
	if (*n > 255)
		return "name longer than 255 bytes";
	return NULL;
}

/* Check a value; NULL if fine, else why not. */
static const char *value_problem(const void *val, size_t len)
{
	if (!val && len)
		return "missing value";
	if (len > 65535)
		return "value longer than 65535 bytes";
	return NULL;
}

/* Nesting as the decoder counts it: open sections plus an open list. */
static int buf_depth(const struct vici_buf *b)
{
	return b->depth + (b->in_list ? 1 : 0);
}

/* Element with a u8-prefixed name only: SECTION_START, LIST_START. */
static void add_named(struct vici_buf *b, uint8_t type, const char *name)
{
	const char *why;
	size_t n = 0;

	if (b->error)
		return;
	if (b->in_list) {
		buf_fail(b, type == VICI_SECTION_START ? "section inside a list" :
							  "list inside a list");
		return;
	}
	if ((why = name_problem(name, &n))) {
		buf_fail(b, why);
		return;
	}
	/* never build what our own decoder would refuse */
	if (buf_depth(b) >= VICI_MAX_DEPTH) {
		buf_fail(b, "nesting too deep");
		return;
	}
	if (!buf_reserve(b, 2 + n))
		return;
	put_u8(b, type);
	put_u8(b, n);
	put_bytes(b, name, n);
	if (type == VICI_SECTION_START)
		b->depth++;
	else
		b->in_list = true;
}

void vici_add_kv(struct vici_buf *b, const char *key, const void *val, size_t len)
{
	const char *why;
	size_t n = 0;

	if (b->error)
		return;
	if (b->in_list) {
		buf_fail(b, "key-value inside a list");
		return;
	}
	if ((why = name_problem(key, &n)) || (why = value_problem(val, len))) {
		buf_fail(b, why);
		return;
	}
	if (!buf_reserve(b, 1 + 1 + n + 2 + len))
		return;
	put_u8(b, VICI_KEY_VALUE);
	put_u8(b, n);
	put_bytes(b, key, n);
	put_u16(b, len);
	put_bytes(b, val, len);
}

void vici_add_kvs(struct vici_buf *b, const char *key, const char *val)
{
	if (!val) {
		buf_fail(b, "missing value");
		return;
	}
	vici_add_kv(b, key, val, strlen(val));
}

/* Format into a temporary buffer that is wiped afterwards: may be a PIN. */
static char *vformat(const char *fmt, va_list ap, size_t *len)
	__attribute__((format(printf, 1, 0)));
static char *vformat(const char *fmt, va_list ap, size_t *len)
{
	va_list ap2;
	char *s;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	*len = n;
	return s;
}

void vici_add_kvf(struct vici_buf *b, const char *key, const char *fmt, ...)
{
	size_t len = 0;
	va_list ap;
	char *s;

	if (b->error)
		return;
	va_start(ap, fmt);
	s = vformat(fmt, ap, &len);
	va_end(ap);
	if (!s) {
		buf_fail(b, "cannot format value");
		return;
	}
	vici_add_kv(b, key, s, len);
	explicit_bzero(s, len);
	free(s);
}

void vici_begin_section(struct vici_buf *b, const char *name)
{
	add_named(b, VICI_SECTION_START, name);
}

void vici_end_section(struct vici_buf *b)
{
	if (b->error)
		return;
	if (b->in_list) {
		buf_fail(b, "section end inside a list");
		return;
	}
	if (b->depth == 0) {
		buf_fail(b, "section end without a section");
		return;
	}
	if (!buf_reserve(b, 1))
		return;
	put_u8(b, VICI_SECTION_END);
	b->depth--;
}

void vici_begin_list(struct vici_buf *b, const char *name)
{
	add_named(b, VICI_LIST_START, name);
}

void vici_add_item(struct vici_buf *b, const void *val, size_t len)
{
	const char *why;

	if (b->error)
		return;
	if (!b->in_list) {
		buf_fail(b, "list item outside a list");
		return;
	}
	if ((why = value_problem(val, len))) {
		buf_fail(b, why);
		return;
	}
	if (!buf_reserve(b, 1 + 2 + len))
		return;
	put_u8(b, VICI_LIST_ITEM);
	put_u16(b, len);
	put_bytes(b, val, len);
}

void vici_add_items(struct vici_buf *b, const char *val)
{
	if (!val) {
		buf_fail(b, "missing value");
		return;
	}
	vici_add_item(b, val, strlen(val));
}

void vici_end_list(struct vici_buf *b)
{
	if (b->error)
		return;
	if (!b->in_list) {
		buf_fail(b, "list end outside a list");
		return;
	}
	if (!buf_reserve(b, 1))
		return;
	put_u8(b, VICI_LIST_END);
	b->in_list = false;
}

int vici_buf_check(const struct vici_buf *b, struct m2m_err *err)
{
	if (b->error)
		return m2m_err_set(err, M2M_ERR_FAILURE, "building VICI message: %s", b->error);
	if (b->in_list)
		return m2m_err_set(err, M2M_ERR_FAILURE, "building VICI message: list not ended");
	if (b->depth)
		return m2m_err_set(err, M2M_ERR_FAILURE,
				   "building VICI message: %d section(s) not ended", b->depth);
	return M2M_OK;
}

/* ---- decoding ------------------------------------------------------------ */

/*
 * One allocation per node: the struct, then the name, then the value, both
 * NUL-terminated. Keeps the failure paths of the decoder trivial.
 */
static struct vici_node *node_new(enum vici_node_type type, const uint8_t *name, size_t nlen,
				  bool named, const uint8_t *val, size_t vlen)
{
	struct vici_node *n;
	char *p;

	n = calloc(1, sizeof(*n) + nlen + 1 + vlen + 1);
	if (!n)
		return NULL;
	n->type = type;
	p = (char *)(n + 1);
	if (named) {
		n->name = p;
		if (nlen)
			memcpy(p, name, nlen);
		p[nlen] = '\0';
	}
	p += nlen + 1;
	if (type == VICI_NODE_KV) {
		n->value = p;
		n->vlen = vlen;
		if (vlen)
			memcpy(p, val, vlen);
		p[vlen] = '\0';
	}
	return n;
}

void vici_node_free(struct vici_node *n)
{
	struct vici_node *next;

	/*
	 * Siblings are walked in a loop, not by recursion: a list may have
	 * many thousands of items. Recursion only follows ->child, whose depth
	 * the decoder bounds.
	 */
	while (n) {
		next = n->next;
		vici_node_free(n->child);
		/* values may be secrets too (keys, shared secrets) */
		if (n->value)
			explicit_bzero(n->value, n->vlen);
		free(n);
		n = next;
	}
}

/* A section or list being filled, and where its next child goes. */
struct frame {
	struct vici_node *node;
	struct vici_node **tail;
};

struct reader {
	const uint8_t *msg;
	size_t len, pos;
};

static bool rd_u8(struct reader *r, uint8_t *v)
{
	if (r->len - r->pos < 1)
		return false;
	*v = r->msg[r->pos++];
	return true;
}

static bool rd_u16(struct reader *r, uint16_t *v)
{
	if (r->len - r->pos < 2)
		return false;
	*v = (uint16_t)(r->msg[r->pos] << 8 | r->msg[r->pos + 1]);
	r->pos += 2;
	return true;
}

static bool rd_bytes(struct reader *r, size_t n, const uint8_t **p)
{
	if (r->len - r->pos < n)
		return false;
	*p = r->msg + r->pos;
	r->pos += n;
	return true;
}

/* The decoder's error: what went wrong and at which element (its type byte). */
static int malformed(struct m2m_err *err, const char *what, size_t off)
{
	return m2m_err_set(err, M2M_ERR_PROTOCOL, "malformed VICI message: %s at offset %zu",
			   what, off);
}

/*
 * Read the u8-prefixed name of an element. A NUL inside a name is refused:
 * names are used as C strings, and a name that compares equal to a shorter
 * one would make lookups ambiguous.
 */
static const char *rd_name(struct reader *r, const uint8_t **name, size_t *nlen)
{
	uint8_t n;

	if (!rd_u8(r, &n))
		return "truncated name length";
	if (!rd_bytes(r, n, name))
		return "truncated name";
	if (memchr(*name, '\0', n))
		return "NUL byte in name";
	*nlen = n;
	return NULL;
}

static const char *rd_value(struct reader *r, const uint8_t **val, size_t *vlen)
{
	uint16_t n;

	if (!rd_u16(r, &n))
		return "truncated value length";
	if (!rd_bytes(r, n, val))
		return "truncated value";
	*vlen = n;
	return NULL;
}

int vici_decode(const uint8_t *msg, size_t len, struct vici_node **out, struct m2m_err *err)
{
	/* stack[0] is the root; stack[1..VICI_MAX_DEPTH] are open sections/a list */
	struct frame stack[VICI_MAX_DEPTH + 1];
	struct reader r = { .msg = msg, .len = len };
	const uint8_t *name = NULL, *val = NULL;
	size_t nlen = 0, vlen = 0, off;
	struct vici_node *root, *n;
	enum vici_node_type nt;
	const char *why;
	int depth = 0;
	bool in_list;
	uint8_t type;

	*out = NULL;
	if (!msg && len)
		return malformed(err, "no data", 0);
	if (len > VICI_MAX_PACKET)
		return malformed(err, "message too large", 0);
	root = node_new(VICI_NODE_SECTION, NULL, 0, false, NULL, 0);
	if (!root)
		return m2m_err_set(err, M2M_ERR_FAILURE, "decoding VICI message: out of memory");
	stack[0].node = root;
	stack[0].tail = &root->child;

	while (r.pos < r.len) {
		off = r.pos;
		in_list = stack[depth].node->type == VICI_NODE_LIST;
		type = r.msg[r.pos++]; /* the loop condition guarantees this byte */
		n = NULL;
		switch (type) {
		case VICI_SECTION_START:
		case VICI_LIST_START:
			if (in_list) {
				why = type == VICI_SECTION_START ? "section inside a list" :
								   "list inside a list";
				goto bad;
			}
			if ((why = rd_name(&r, &name, &nlen)))
				goto bad;
			if (depth >= VICI_MAX_DEPTH) {
				why = "nesting too deep";
				goto bad;
			}
			nt = type == VICI_SECTION_START ? VICI_NODE_SECTION : VICI_NODE_LIST;
			n = node_new(nt, name, nlen, true, NULL, 0);
			if (!n)
				goto oom;
			*stack[depth].tail = n;
			stack[depth].tail = &n->next;
			depth++;
			stack[depth].node = n;
			stack[depth].tail = &n->child;
			break;
		case VICI_SECTION_END:
			if (in_list) {
				why = "section end inside a list";
				goto bad;
			}
			if (depth == 0) {
				why = "section end without a section";
				goto bad;
			}
			depth--;
			break;
		case VICI_KEY_VALUE:
			if (in_list) {
				why = "key-value inside a list";
				goto bad;
			}
			if ((why = rd_name(&r, &name, &nlen)) || (why = rd_value(&r, &val, &vlen)))
				goto bad;
			n = node_new(VICI_NODE_KV, name, nlen, true, val, vlen);
			if (!n)
				goto oom;
			*stack[depth].tail = n;
			stack[depth].tail = &n->next;
			break;
		case VICI_LIST_ITEM:
			if (!in_list) {
				why = "list item outside a list";
				goto bad;
			}
			if ((why = rd_value(&r, &val, &vlen)))
				goto bad;
			n = node_new(VICI_NODE_KV, NULL, 0, false, val, vlen);
			if (!n)
				goto oom;
			*stack[depth].tail = n;
			stack[depth].tail = &n->next;
			break;
		case VICI_LIST_END:
			if (!in_list) {
				why = "list end outside a list";
				goto bad;
			}
			depth--;
			break;
		default:
			vici_node_free(root);
			return m2m_err_set(err, M2M_ERR_PROTOCOL,
					   "malformed VICI message: unknown element type %u at offset %zu",
					   type, off);
		}
	}
	if (depth) {
		off = r.pos;
		why = stack[depth].node->type == VICI_NODE_LIST ? "list not ended" :
								  "section not ended";
		goto bad;
	}
	*out = root;
	return M2M_OK;

bad:
	vici_node_free(root);
	return malformed(err, why, off);
oom:
	vici_node_free(root);
	return m2m_err_set(err, M2M_ERR_FAILURE, "decoding VICI message: out of memory");
}

/* ---- lookups ------------------------------------------------------------- */

/*
 * Names may themselves contain dots (connection names, addresses), so a
 * path is not simply split at dots: every child whose name matches a prefix
 * of the path up to a dot is tried, depth first, in wire order.
 */
const struct vici_node *vici_find(const struct vici_node *sec, const char *path)
{
	const struct vici_node *c, *r;
	size_t n;

	if (!sec || !path || sec->type != VICI_NODE_SECTION)
		return NULL;
	for (c = sec->child; c; c = c->next) {
		if (!c->name)
			continue;
		n = strlen(c->name);
		if (strncmp(path, c->name, n))
			continue;
		if (path[n] == '\0')
			return c;
		if (path[n] == '.' && c->type == VICI_NODE_SECTION) {
			r = vici_find(c, path + n + 1);
			if (r)
				return r;
		}
	}
	return NULL;
}

const char *vici_find_str(const struct vici_node *sec, const char *path)
{
	const struct vici_node *n = vici_find(sec, path);

	return n && n->type == VICI_NODE_KV ? n->value : NULL;
}

bool vici_find_yes(const struct vici_node *sec, const char *path)
{
	const char *s = vici_find_str(sec, path);

	return s && strcmp(s, "yes") == 0;
}

/* ---- packets ------------------------------------------------------------- */

static bool type_is_named(int type)
{
	return type == VICI_CMD_REQUEST || type == VICI_EVENT_REGISTER ||
	       type == VICI_EVENT_UNREGISTER || type == VICI_EVENT;
}

int vici_packet_split(const uint8_t *pkt, size_t len, int *type, const char **name,
		      size_t *name_len, const uint8_t **body, size_t *body_len,
		      struct m2m_err *err)
{
	size_t pos = 1, nlen = 0;

	*type = -1;
	*name = NULL;
	*name_len = 0;
	*body = NULL;
	*body_len = 0;
	if (!pkt || len == 0)
		return m2m_err_set(err, M2M_ERR_PROTOCOL, "malformed VICI packet: empty");
	if (len > VICI_MAX_PACKET)
		return m2m_err_set(err, M2M_ERR_PROTOCOL,
				   "malformed VICI packet: %zu bytes, more than %d", len,
				   VICI_MAX_PACKET);
	if (pkt[0] > VICI_EVENT)
		return m2m_err_set(err, M2M_ERR_PROTOCOL,
				   "malformed VICI packet: unknown packet type %u", pkt[0]);
	if (type_is_named(pkt[0])) {
		if (len < 2)
			return m2m_err_set(err, M2M_ERR_PROTOCOL,
					   "malformed VICI packet: truncated name length");
		nlen = pkt[1];
		pos = 2;
		/* every named packet names a command or an event */
		if (nlen == 0)
			return m2m_err_set(err, M2M_ERR_PROTOCOL,
					   "malformed VICI packet: empty name");
		if (len - pos < nlen)
			return m2m_err_set(err, M2M_ERR_PROTOCOL,
					   "malformed VICI packet: truncated name");
		*name = (const char *)pkt + pos;
		*name_len = nlen;
		pos += nlen;
	}
	*type = pkt[0];
	*body = pkt + pos;
	*body_len = len - pos;
	return M2M_OK;
}

/* ---- results ------------------------------------------------------------- */

int vici_check_success(const struct vici_node *resp, const char *cmd, struct m2m_err *err)
{
	const struct vici_node *e;
	char msg[256];
	size_t i, n;

	if (vici_find_yes(resp, "success"))
		return M2M_OK;
	e = vici_find(resp, "errmsg");
	if (!e || e->type != VICI_NODE_KV || e->vlen == 0) {
		if (cmd)
			return m2m_err_set(err, M2M_ERR_FAILURE, "%s: command failed", cmd);
		return m2m_err_set(err, M2M_ERR_FAILURE, "command failed");
	}
	/* errmsg comes off the wire: keep it to one printable line */
	n = e->vlen < sizeof(msg) - 1 ? e->vlen : sizeof(msg) - 1;
	for (i = 0; i < n; i++) {
		unsigned char ch = e->value[i];

		msg[i] = ch < 0x20 || ch == 0x7f ? ' ' : ch;
	}
	msg[n] = '\0';
	if (cmd)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", cmd, msg);
	return m2m_err_set(err, M2M_ERR_FAILURE, "%s", msg);
}

/* ---- dump ---------------------------------------------------------------- */

struct sbuf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void sb_add(struct sbuf *sb, const char *p, size_t n)
{
	size_t ncap;
	char *ns;

	if (sb->failed)
		return;
	if (sb->cap - sb->len <= n) {
		ncap = sb->cap ? sb->cap : 128;
		while (ncap - sb->len <= n)
			ncap *= 2;
		ns = realloc(sb->s, ncap);
		if (!ns) {
			sb->failed = true;
			return;
		}
		sb->s = ns;
		sb->cap = ncap;
	}
	memcpy(sb->s + sb->len, p, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
}

static void sb_puts(struct sbuf *sb, const char *p)
{
	sb_add(sb, p, strlen(p));
}

/* A quoted string, JSON-escaped; bytes outside printable ASCII as \u00XX. */
static void sb_quote(struct sbuf *sb, const char *p, size_t n)
{
	char esc[8];
	size_t i;

	sb_add(sb, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char ch = p[i];

		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = ch;
			sb_add(sb, esc, 2);
		} else if (ch == '\n') {
			sb_add(sb, "\\n", 2);
		} else if (ch == '\t') {
			sb_add(sb, "\\t", 2);
		} else if (ch < 0x20 || ch >= 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
			sb_add(sb, esc, 6);
		} else {
			sb_add(sb, (const char *)&ch, 1);
		}
	}
	sb_add(sb, "\"", 1);
}

static void dump_node(struct sbuf *sb, const struct vici_node *n)
{
	const struct vici_node *c;

	switch (n->type) {
	case VICI_NODE_KV:
		sb_quote(sb, n->value ? n->value : "", n->value ? n->vlen : 0);
		break;
	case VICI_NODE_LIST:
		sb_puts(sb, "[");
		for (c = n->child; c; c = c->next) {
			dump_node(sb, c);
			if (c->next)
				sb_puts(sb, ", ");
		}
		sb_puts(sb, "]");
		break;
	case VICI_NODE_SECTION:
		sb_puts(sb, "{");
		for (c = n->child; c; c = c->next) {
			sb_quote(sb, c->name ? c->name : "", c->name ? strlen(c->name) : 0);
			sb_puts(sb, ": ");
			dump_node(sb, c);
			if (c->next)
				sb_puts(sb, ", ");
		}
		sb_puts(sb, "}");
		break;
	}
}

char *vici_dump(const struct vici_node *n)
{
	struct sbuf sb = { 0 };

	if (!n)
		sb_puts(&sb, "null");
	else
		dump_node(&sb, n);
	if (sb.failed) {
		free(sb.s);
		return NULL;
	}
	return sb.s;
}

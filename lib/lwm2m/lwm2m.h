/* SPDX-License-Identifier: MIT */
/*
 * Internal to libm2m: the OMA LwM2M 1.1 client layer. A data model of
 * objects, instances and resources with read/write/execute callbacks, the
 * content format codecs (plain text, opaque, TLV, SenML JSON, SenML CBOR,
 * link-format), and the operations of the device management interface on
 * top of them. Nothing here knows CoAP: lib/lwm2m/client.c binds it to
 * lib/coap. Decoders take outside input and each has a fuzz target.
 */
#ifndef M2M_LWM2M_H
#define M2M_LWM2M_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "m2m/dm.h"

/* CoAP response codes as the class.detail byte, e.g. LW_CODE(4, 4) for 4.04 */
#define LW_CODE(c, d) ((uint8_t)(((c) << 5) | (d)))
#define LW_CONTENT LW_CODE(2, 5)
#define LW_CHANGED LW_CODE(2, 4)
#define LW_DELETED LW_CODE(2, 2)
#define LW_CREATED LW_CODE(2, 1)
#define LW_BAD_REQUEST LW_CODE(4, 0)
#define LW_UNAUTHORIZED LW_CODE(4, 1)
#define LW_NOT_FOUND LW_CODE(4, 4)
#define LW_NOT_ALLOWED LW_CODE(4, 5)
#define LW_NOT_ACCEPTABLE LW_CODE(4, 6)
#define LW_UNSUPPORTED_CF LW_CODE(4, 15)
#define LW_INTERNAL LW_CODE(5, 0)
#define LW_SERVICE_UNAVAILABLE LW_CODE(5, 3)

/* Content-Format numbers (IANA CoAP registry) */
enum lw_format {
	LW_FMT_TEXT = 0,
	LW_FMT_LINK = 40,
	LW_FMT_OPAQUE = 42,
	LW_FMT_CBOR = 60,
	LW_FMT_SENML_JSON = 110,
	LW_FMT_SENML_CBOR = 112,
	LW_FMT_TLV = 11542,
	LW_FMT_NONE = 0x10000, /* no Content-Format / Accept option (M2M_COAP_NONE) */
};

enum lw_type {
	LW_NONE = 0,  /* executable: no value */
	LW_STRING,
	LW_INTEGER,
	LW_UNSIGNED,
	LW_FLOAT,
	LW_BOOLEAN,
	LW_OPAQUE,
	LW_TIME,
	LW_OBJLNK,
	LW_RAW,       /* decoded from TLV, type not known yet: see lw_value_coerce() */
};

/* A value; buf is owned by whoever filled it (records own theirs). */
struct lw_value {
	enum lw_type type;
	int64_t i;        /* INTEGER, TIME, BOOLEAN (0/1) */
	uint64_t u;       /* UNSIGNED */
	double f;         /* FLOAT */
	uint16_t lnk[2];  /* OBJLNK */
	uint8_t *buf;     /* STRING, OPAQUE, RAW */
	size_t len;
};

#define LW_ID_NONE 0xffff
/* /o/i/r/ri; depth = number of ids used (0: root) */
struct lw_path {
	uint16_t id[4];
	uint8_t depth;
};

struct lw_record {
	struct lw_path path;
	struct lw_value v;
};

struct lw_records {
	struct lw_record *r;
	size_t n, cap;
};

/* A growable output buffer. */
struct lw_buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

void lw_buf_add(struct lw_buf *b, const void *data, size_t len);
void lw_buf_printf(struct lw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lw_buf_free(struct lw_buf *b);

/* "/3/0/1" -> path; false if not a valid LwM2M path (ids 0..65534). */
bool lw_path_parse(const char *s, size_t len, struct lw_path *p);
void lw_path_format(const struct lw_path *p, char *out, size_t len);
/* a is p or a prefix of it */
bool lw_path_under(const struct lw_path *p, const struct lw_path *a);

struct lw_record *lw_records_add(struct lw_records *rs, const struct lw_path *p);
void lw_records_free(struct lw_records *rs);
/* Copy a value's bytes into v->buf (owned). */
bool lw_value_set_bytes(struct lw_value *v, enum lw_type t, const void *p, size_t len);

/*
 * Convert a decoded value to the model's type (RAW from TLV by length,
 * FLOAT to INTEGER when integral, STRING from text, ...). LW_BAD_REQUEST if
 * it cannot be.
 */
int lw_value_coerce(struct lw_value *v, enum lw_type want);

/* ---- codecs: each decoder takes outside input ---- */

/* plain text: one value of a known type */
int lw_text_encode(const struct lw_value *v, struct lw_buf *out);
int lw_text_decode(const uint8_t *p, size_t len, enum lw_type t, struct lw_value *v);

/* TLV: records under base (an object instance, resource, or object) */
int lw_tlv_encode(const struct lw_records *rs, const struct lw_path *base, struct lw_buf *out);
int lw_tlv_decode(const uint8_t *p, size_t len, const struct lw_path *base,
		  struct lw_records *rs);

/* SenML JSON and CBOR (RFC 8428 with LwM2M's names: bn is a path) */
int lw_senml_json_encode(const struct lw_records *rs, const struct lw_path *base,
			 struct lw_buf *out);
int lw_senml_json_decode(const uint8_t *p, size_t len, struct lw_records *rs);
int lw_senml_cbor_encode(const struct lw_records *rs, const struct lw_path *base,
			 struct lw_buf *out);
int lw_senml_cbor_decode(const uint8_t *p, size_t len, struct lw_records *rs);
/* A composite answer: bases[i] is record i's base (a base name where it changes) */
int lw_senml_encode_each(const struct lw_records *rs, const struct lw_path *bases, bool cbor,
			 struct lw_buf *out);
/* The paths a composite request names (no values; an object or instance too) */
int lw_senml_names_decode(const uint8_t *p, size_t len, bool cbor, struct lw_records *rs);

/* link-format (RFC 6690): one link of a list */
struct lw_link {
	struct lw_path path;
	char attrs[128]; /* ";ver=1.1;pmin=10" as received, without the leading ';' */
};
int lw_link_decode(const uint8_t *p, size_t len, struct lw_link *links, size_t max,
		   size_t *n);

/* base64url without padding (SenML JSON "vd") */
void lw_b64_encode(const uint8_t *p, size_t len, struct lw_buf *out);
int lw_b64_decode(const char *s, size_t len, struct lw_buf *out);

/* A line to an m2m_log_fn, if one is set (it formats; format-checked there). */
#define LW_LOG(log, ctx, ...)                          \
	do {                                           \
		if (log)                               \
			(log)((ctx), __VA_ARGS__);     \
	} while (0)

/* ---- the data model ---- */

enum { LW_OP_R = 1, LW_OP_W = 2, LW_OP_E = 4 };

struct lw_res_def {
	uint16_t id;
	enum lw_type type;
	uint8_t ops;
	bool multiple;
};

struct lw_object;

struct lw_object_ops {
	/*
	 * Read resource res (instance ri if multiple) of instance inst. Strings
	 * and opaque values may point at the object's memory (v->buf) valid
	 * until the next call; set v->type. Return 0 or an LW_ code.
	 */
	int (*read)(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
		    struct lw_value *v);
	/* Number of instances of a multiple resource (0: none present). */
	int (*count)(struct lw_object *o, uint16_t inst, uint16_t res);
	/* apply false: only check that the value would be taken (a Write checks all first) */
	int (*write)(struct lw_object *o, uint16_t inst, uint16_t res, const struct lw_value *v,
		     bool apply);
	int (*exec)(struct lw_object *o, uint16_t inst, uint16_t res, const uint8_t *arg,
		    size_t len);
	/*
	 * A Write of resource block_res (with write_block set), as its blocks come
	 * (RFC 7959 Block1), never the whole value in memory: in order, offset
	 * the block's place in the value, last when no more follow (a value in
	 * one message: offset 0, last). Opaque only (application/octet-stream).
	 * 0 (taken) or an LW_ code, which ends the write.
	 */
	int (*write_block)(struct lw_object *o, uint16_t inst, uint16_t res, uint64_t offset,
			   const uint8_t *p, size_t len, bool last);
	uint16_t block_res;
};

#define LW_MAX_INST 8
struct lw_object {
	uint16_t id;
	const char *version;           /* "1.1" or NULL for 1.0 */
	const struct lw_res_def *res;  /* sorted by id */
	size_t n_res;
	uint16_t inst[LW_MAX_INST];
	size_t n_inst;
	const struct lw_object_ops *ops;
	void *priv;
	bool hidden;                   /* not announced at registration (Security) */
};

/* Write-Attributes of one path (LwM2M 1.1 5.1.2) */
enum { LW_A_PMIN = 1, LW_A_PMAX = 2, LW_A_GT = 4, LW_A_LT = 8, LW_A_ST = 16 };
struct lw_attrs {
	struct lw_path path;
	unsigned set;
	unsigned pmin, pmax;  /* seconds */
	double gt, lt, st;
};

#define LW_MAX_OBJ 12
#define LW_MAX_ATTRS 32
struct lw_registry {
	struct lw_object *obj[LW_MAX_OBJ];
	size_t n;
	struct lw_attrs attrs[LW_MAX_ATTRS];
	size_t n_attrs;
};

int lw_registry_add(struct lw_registry *reg, struct lw_object *o);
struct lw_object *lw_registry_find(struct lw_registry *reg, uint16_t id);
const struct lw_res_def *lw_res_find(const struct lw_object *o, uint16_t id);
bool lw_inst_exists(const struct lw_object *o, uint16_t inst);

/* Register/Update payload: </1>;ver=1.1,</1/0>,</3/0>,... */
void lw_register_links(struct lw_registry *reg, struct lw_buf *out);

/* The device management operations; each returns an LW_ code. */
int lw_read(struct lw_registry *reg, const struct lw_path *p, struct lw_records *out);
int lw_write(struct lw_registry *reg, const struct lw_path *p, const struct lw_records *in,
	     bool replace);
/* Write-Composite: records of any objects, all applied or none (LW_ code) */
int lw_write_composite(struct lw_registry *reg, const struct lw_records *in);
/*
 * Read-Composite (composite.c): every path of paths read into out, one base
 * per record in *bases (malloc()ed); a path not found is left out, none
 * found is LW_NOT_FOUND.
 */
int lw_read_composite(struct lw_registry *reg, const struct lw_records *paths,
		      struct lw_records *out, struct lw_path **bases);
/*
 * A FETCH on / (Read-Composite): the SenML list of paths of Content-Format cf
 * read, and encoded in accept (LW_FMT_NONE: cf) into out; paths holds the
 * paths asked for and rs the records read (for an observation), *used the
 * format of the answer.
 */
int lw_fetch_composite(struct lw_registry *reg, unsigned cf, unsigned accept,
		       const uint8_t *body, size_t len, struct lw_records *paths,
		       struct lw_records *rs, struct lw_buf *out, unsigned *used);
/* An iPATCH on / (Write-Composite) of SenML records of Content-Format cf */
int lw_patch_composite(struct lw_registry *reg, unsigned cf, const uint8_t *body, size_t len);
int lw_execute(struct lw_registry *reg, const struct lw_path *p, const uint8_t *arg,
	       size_t len);
/*
 * Argument digit of an Execute's payload (exec_arg.c: TS 1.1 Core 6.3.5's
 * syntax): *present if it is there, its value (if it has one) in out, NUL
 * terminated; 0, or LW_BAD_REQUEST if the payload is not an argument list or
 * the value is longer than outlen - 1.
 */
int lw_exec_arg(const uint8_t *p, size_t len, unsigned digit, char *out, size_t outlen,
		bool *present);
int lw_discover(struct lw_registry *reg, const struct lw_path *p, struct lw_buf *out);
/* query "pmin=1&pmax=5&gt=3.5" (no leading '?') */
int lw_write_attrs(struct lw_registry *reg, const struct lw_path *p, const char *query,
		   size_t len);
/* The same without checking that the path exists (attributes restored from a file). */
int lw_attrs_store(struct lw_registry *reg, const struct lw_path *p, const char *query,
		   size_t len);
/* The attributes in force for p (inherited from object/instance), 0 if none. */
unsigned lw_attrs_get(const struct lw_registry *reg, const struct lw_path *p,
		      struct lw_attrs *out);

/*
 * Encode what lw_read() returned in format fmt (LW_FMT_NONE: the default,
 * text for one resource, SenML JSON otherwise). *used is the format chosen.
 */
int lw_encode(const struct lw_records *rs, const struct lw_path *base, unsigned fmt,
	      struct lw_buf *out, unsigned *used);
/* Decode a Write payload of format fmt for path p. */
int lw_decode(struct lw_registry *reg, const struct lw_path *p, unsigned fmt,
	      const uint8_t *data, size_t len, struct lw_records *out);

/* The client's CoAP context (for the fuzz target that plays the server). */
struct m2m_dm;
struct m2m_coap;
struct m2m_err;
struct m2m_coap *lw_dm_coap(struct m2m_dm *dm);
/*
 * The caller's wipe and renewal for the server's orders (m2m_dm_run_opts,
 * versions 2 and 3; NULL: refused); end_ms: when a report run must end
 * (m2m_now_ms(); 0: serving, no end), which a renewal holds to.
 */
void lw_dm_set_orders(struct m2m_dm *dm, const struct m2m_dm_run_opts *o, uint64_t end_ms);
/*
 * A renewal the server ordered runs beside the client, or is due: a report
 * run serves on until it ends (lw_dm_serve), within the run's end_ms.
 */
bool lw_dm_renewing(const struct m2m_dm *dm);
/* A Wipe the server ordered was answered and waits to be done. */
bool lw_dm_wipe_due(const struct m2m_dm *dm);
/* What the audit log is to say of the Wipe the server ordered (LW_SERVE_WIPE). */
const char *lw_dm_wipe_reason(const struct m2m_dm *dm);
/*
 * Send (send.c): the values of paths (NULL-terminated) in one POST /dp, once
 * registered; a muted, refused or failed Send is a line in the log, never an
 * error of the run (M2M_OK).
 */
int lw_dm_send(struct m2m_dm *dm, char *const *paths, unsigned timeout_ms, struct m2m_err *err);
/* Why lw_dm_serve() returned. */
enum lw_serve_end {
	LW_SERVE_DONE,   /* its time is over, or *stop */
	LW_SERVE_RECONF, /* a configuration package ordered through object 5 ended */
	LW_SERVE_WIPE,   /* the server's Wipe (object 33811) was answered: lw_dm_wipe_reason() */
};
/*
 * m2m_dm_serve(), and with why: it also returns (OK) once a Wipe the server
 * ordered was answered, and with reconf once a configuration package ordered
 * through object 5 ended (committed or rolled back; the configuration file
 * changed under the client: m2m_dm_run loads it again and serves under it).
 * A report run's ms goes on while an ordered renewal runs (lw_dm_renewing),
 * up to the run's end.
 */
int lw_dm_serve(struct m2m_dm *dm, unsigned ms, volatile const int *stop, bool reconf,
		enum lw_serve_end *why,
		struct m2m_err *err);
struct m2m_config;
/*
 * m2m_dm_open(), the server's name looked up within resolve_ms (0:
 * M2M_RESOLVE_MS) and until *stop (may be NULL)
 */
int lw_dm_open(const struct m2m_config *cfg, unsigned resolve_ms, volatile const int *stop,
	       struct m2m_dm **out, struct m2m_err *err);
struct m2m_dm_health_opts;
/*
 * m2m_dm_health(); own_lock: the caller holds dm.lock (an LwM2M client checks
 * a configuration package it was sent): the registration is made here, under
 * cfg, not taken from the client that serves (under the configuration being
 * replaced, it proves nothing of cfg).
 */
int lw_dm_health(const struct m2m_config *cfg, const struct m2m_dm_health_opts *o, bool own_lock,
		 struct m2m_err *err);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The SIM, as ModemManager tells it on D-Bus (org.freedesktop.ModemManager1):
 * ObjectManager.GetManagedObjects on /org/freedesktop/ModemManager1 lists the
 * modems (the objects with the org.freedesktop.ModemManager1.Modem interface;
 * ModemManager lists no SIM there), each with its properties; the first
 * modem's Sim is the path of its SIM object ("/": none), whose SimIdentifier,
 * Imsi and OperatorIdentifier come from Properties.GetAll. Two calls on one
 * connection, under one deadline.
 *
 * The deadline: sd_bus_call()'s timeout starts only once the connection is up
 * (authenticated, Hello answered); before that it waits on the connection
 * alone. Against a socket that accepts and stays silent, sd_bus_call() with a
 * 500 ms timeout was still waiting after 10 s (libsystemd 252, the lab). So
 * the calls are sd_bus_call_async() and this file drives the connection
 * itself, in slices of at most SLICE_MS (the stop flag), until the answer or
 * the deadline. The connect is non-blocking (sd-bus makes its socket with
 * SOCK_NONBLOCK): a unix socket connects or fails at once. Only unix:
 * addresses are taken: a tcp: one would have sd_bus_start() look its host
 * name up, unbounded, and ModemManager is on this machine's bus.
 *
 * What an answer may hold is bounded by the bus, not here: sd-bus takes a
 * message of up to 128 MiB whole before it hands it over, dbus-daemon passes
 * at most 32 MiB on the system bus (its max_message_size). Reading it is one
 * pass that keeps nothing but pointers into it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "base/base.h"
#include "policy/policy_int.h"

#define MM_SERVICE "org.freedesktop.ModemManager1"
#define MM_PATH "/org/freedesktop/ModemManager1"
#define MM_MODEM MM_SERVICE ".Modem"
#define MM_SIM MM_SERVICE ".Sim"
#define SYSTEM_BUS_DEFAULT "unix:path=/run/dbus/system_bus_socket"

/* one wait of the loop: the stop flag is seen at least this often */
#define SLICE_MS 100
/* a SIM object gone between the list and its read (a SIM swapped then): read again, once */
#define ROUNDS 2

/*
 * libsystemd is loaded with dlopen() on the first read of the SIM, not when a
 * tool starts: a tool that never asks ModemManager (all of them but the
 * policy's) does not pay for it at start-up (issue 17 counts milliseconds).
 * Only its header is needed at build time.
 */
static struct {
	bool ok;
	int (*bus_new)(sd_bus **);
	int (*set_address)(sd_bus *, const char *);
	int (*set_bus_client)(sd_bus *, int);
	int (*start)(sd_bus *);
	int (*is_open)(sd_bus *);
	int (*is_ready)(sd_bus *);
	int (*process)(sd_bus *, sd_bus_message **);
	int (*wait)(sd_bus *, uint64_t);
	sd_bus *(*close_unref)(sd_bus *);
	int (*call_async)(sd_bus *, sd_bus_slot **, sd_bus_message *, sd_bus_message_handler_t,
			  void *, uint64_t);
	sd_bus_slot *(*slot_unref)(sd_bus_slot *);
	int (*new_method_call)(sd_bus *, sd_bus_message **, const char *, const char *, const char *,
			       const char *);
	int (*set_auto_start)(sd_bus_message *, int);
	int (*append)(sd_bus_message *, const char *, ...);
	sd_bus_message *(*ref)(sd_bus_message *);
	sd_bus_message *(*unref)(sd_bus_message *);
	const sd_bus_error *(*get_error)(sd_bus_message *);
	int (*has_signature)(sd_bus_message *, const char *);
	int (*enter)(sd_bus_message *, char, const char *);
	int (*leave)(sd_bus_message *);
	int (*read_basic)(sd_bus_message *, char, void *);
	int (*skip_over)(sd_bus_message *, const char *);
} sb;

static pthread_once_t sb_once = PTHREAD_ONCE_INIT;

static void sb_init(void)
{
	void *h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
	struct {
		void **fn;
		const char *name;
	} syms[] = {
		{ (void **)&sb.bus_new, "sd_bus_new" },
		{ (void **)&sb.set_address, "sd_bus_set_address" },
		{ (void **)&sb.set_bus_client, "sd_bus_set_bus_client" },
		{ (void **)&sb.start, "sd_bus_start" },
		{ (void **)&sb.is_open, "sd_bus_is_open" },
		{ (void **)&sb.is_ready, "sd_bus_is_ready" },
		{ (void **)&sb.process, "sd_bus_process" },
		{ (void **)&sb.wait, "sd_bus_wait" },
		{ (void **)&sb.close_unref, "sd_bus_close_unref" },
		{ (void **)&sb.call_async, "sd_bus_call_async" },
		{ (void **)&sb.slot_unref, "sd_bus_slot_unref" },
		{ (void **)&sb.new_method_call, "sd_bus_message_new_method_call" },
		{ (void **)&sb.set_auto_start, "sd_bus_message_set_auto_start" },
		{ (void **)&sb.append, "sd_bus_message_append" },
		{ (void **)&sb.ref, "sd_bus_message_ref" },
		{ (void **)&sb.unref, "sd_bus_message_unref" },
		{ (void **)&sb.get_error, "sd_bus_message_get_error" },
		{ (void **)&sb.has_signature, "sd_bus_message_has_signature" },
		{ (void **)&sb.enter, "sd_bus_message_enter_container" },
		{ (void **)&sb.leave, "sd_bus_message_exit_container" },
		{ (void **)&sb.read_basic, "sd_bus_message_read_basic" },
		{ (void **)&sb.skip_over, "sd_bus_message_skip" },
	};

	if (!h)
		return;
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		if (!(*syms[i].fn = dlsym(h, syms[i].name))) {
			dlclose(h);
			return;
		}
	}
	/* kept loaded: the next read uses it again */
	sb.ok = true;
}

/* ---- what a SIM's fields may be */

enum sim_field { SIM_ICCID, SIM_IMSI, SIM_OPERATOR };

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/*
 * Why s is not a value of the field (NULL: it is one; "" is one: unknown).
 * An ICCID (ITU-T E.118) is at most 22 characters here (the struct's
 * field): digits, then the F of a card that pads its last nibble (EF.ICCID is
 * BCD); an IMSI (3GPP TS 23.003 2.2) at most 15 digits; an operator MCC and
 * MNC, 3 digits and 2 or 3.
 */
static const char *sim_field_invalid(enum sim_field f, const char *s)
{
	size_t len = strlen(s), digits;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return "not printable ASCII";
	if (!len)
		return NULL;
	switch (f) {
	case SIM_ICCID:
		if (len > 22)
			return "longer than 22 characters";
		digits = len;
		while (digits && (s[digits - 1] == 'F' || s[digits - 1] == 'f'))
			digits--;
		return digits && all_digits(s, digits) ? NULL :
							 "not an ICCID (digits, a trailing F allowed)";
	case SIM_IMSI:
		if (len > 15)
			return "longer than 15 digits";
		return all_digits(s, len) ? NULL : "not an IMSI (digits)";
	case SIM_OPERATOR:
		return len >= 5 && len <= 6 && all_digits(s, len) ? NULL :
								    "not an MCC and MNC (5 or 6 digits)";
	}
	return "unknown field";
}

/* ---- one connection, its calls under the deadline */

struct sim_bus {
	sd_bus *bus;
	const char *addr;
	uint64_t deadline_ms;
	volatile const int *stop;
	struct m2m_err *err;
	sd_bus_message *reply; /* the answer to the call in flight */
};

/* text from the bus (an error's name and message) into out: printable ASCII, '?' for anything else */
static const char *shown(const char *s, char *out, size_t outlen)
{
	return m2m_printable(out, outlen, s, s ? strlen(s) : 0);
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct sim_bus *b = userdata;

	(void)ret_error;
	if (!b->reply)
		b->reply = sb.ref(m);
	return 1;
}

static bool is_error(const sd_bus_error *e, const char *name)
{
	return e->name && !strncmp(e->name, "org.freedesktop.DBus.Error.", 27) &&
	       !strcmp(e->name + 27, name);
}

/* An error answer to what (a method's name) as our error; UnknownObject and its kin: *gone */
static int call_error(struct sim_bus *b, const char *what, const sd_bus_error *e, bool *gone)
{
	char name[96], msg[160];

	if (is_error(e, "ServiceUnknown") || is_error(e, "NameHasNoOwner"))
		return m2m_err_set(b->err, M2M_ERR_DAEMON, "ModemManager is not on the bus at %.100s",
				   b->addr);
	if (is_error(e, "NoReply") || is_error(e, "Timeout") || is_error(e, "TimedOut")) {
		if (sb.is_open(b->bus) <= 0)
			return m2m_err_set(b->err, M2M_ERR_DAEMON,
					   "ModemManager: the bus at %.100s closed the connection during %s",
					   b->addr, what);
		return m2m_err_set(b->err, M2M_ERR_TIMEOUT, "ModemManager: no answer to %s in time", what);
	}
	if (is_error(e, "AccessDenied"))
		return m2m_err_set(b->err, M2M_ERR_DAEMON,
				   "ModemManager: the bus at %.100s does not let us call %s: %s", b->addr,
				   what, shown(e->message, msg, sizeof(msg)));
	if (gone && (is_error(e, "UnknownObject") || is_error(e, "UnknownMethod") ||
		     is_error(e, "UnknownInterface")))
		*gone = true;
	return m2m_err_set(b->err, M2M_ERR_PROTOCOL, "ModemManager: %s: %s: %s", what,
			   shown(e->name, name, sizeof(name)), shown(e->message, msg, sizeof(msg)));
}

/*
 * Call MM_SERVICE's path iface.member (with one string argument if arg) and
 * wait for its answer until the deadline or *stop; M2M_OK: *reply (unref it).
 * *gone (may be NULL): the object or its interface is not there.
 */
static int call(struct sim_bus *b, const char *path, const char *iface, const char *member,
		const char *arg, sd_bus_message **reply, bool *gone)
{
	sd_bus_message *m = NULL;
	sd_bus_slot *slot = NULL;
	const sd_bus_error *e;
	uint64_t now = m2m_now_ms(), left;
	int r, rc;

	*reply = NULL;
	b->reply = NULL;
	if (now >= b->deadline_ms)
		return m2m_err_set(b->err, M2M_ERR_TIMEOUT, "ModemManager: no time left for %s", member);
	/* ModemManager is not started for us: not on the bus is an answer (DAEMON) */
	if ((r = sb.new_method_call(b->bus, &m, MM_SERVICE, path, iface, member)) < 0 ||
	    (r = sb.set_auto_start(m, 0)) < 0 || (arg && (r = sb.append(m, "s", arg)) < 0)) {
		sb.unref(m);
		return m2m_err_set(b->err, M2M_ERR_FAILURE, "ModemManager: %s: %s", member, strerror(-r));
	}
	/* sd-bus's own timeout later than ours: the deadline is ours to tell */
	left = b->deadline_ms - now;
	if (left > M2M_MAX_DURATION_MS)
		left = M2M_MAX_DURATION_MS;
	r = sb.call_async(b->bus, &slot, m, on_reply, b, (left + 1000) * 1000);
	sb.unref(m);
	if (r < 0)
		return m2m_err_set(b->err, r == -ENOTCONN ? M2M_ERR_DAEMON : M2M_ERR_FAILURE,
				   "ModemManager: %s on the bus at %.100s: %s", member, b->addr,
				   strerror(-r));
	for (;;) {
		if (b->reply)
			break;
		if (b->stop && *b->stop) {
			rc = m2m_err_set(b->err, M2M_ERR_TIMEOUT, "ModemManager: stopped during %s",
					 member);
			goto out;
		}
		now = m2m_now_ms();
		if (now >= b->deadline_ms) {
			if (sb.is_ready(b->bus) <= 0)
				rc = m2m_err_set(b->err, M2M_ERR_TIMEOUT,
						 "ModemManager: the bus at %.100s did not finish its "
						 "handshake in time", b->addr);
			else
				rc = m2m_err_set(b->err, M2M_ERR_TIMEOUT,
						 "ModemManager: no answer to %s in time", member);
			goto out;
		}
		/* one message at a time; the deadline is looked at between any two */
		r = sb.process(b->bus, NULL);
		if (r < 0) {
			rc = m2m_err_set(b->err, M2M_ERR_DAEMON, "ModemManager: the bus at %.100s: %s",
					 b->addr, strerror(-r));
			goto out;
		}
		if (r > 0 || b->reply)
			continue;
		r = sb.wait(b->bus, (b->deadline_ms - now < SLICE_MS ? b->deadline_ms - now : SLICE_MS) *
					    1000);
		if (r < 0 && r != -EINTR) {
			rc = m2m_err_set(b->err, M2M_ERR_DAEMON, "ModemManager: the bus at %.100s: %s",
					 b->addr, strerror(-r));
			goto out;
		}
	}
	if ((e = sb.get_error(b->reply))) {
		rc = call_error(b, member, e, gone);
		goto out;
	}
	*reply = b->reply;
	b->reply = NULL;
	rc = M2M_OK;
out:
	sb.slot_unref(slot); /* an answer still to come is not waited for */
	if (b->reply)
		b->reply = sb.unref(b->reply);
	return rc;
}

/* ---- the answers */

/* a modem before another: the lower number (/Modem/2 before /Modem/10), then by bytes */
static bool path_before(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la != lb ? la < lb : strcmp(a, b) < 0;
}

static int shape(struct sim_bus *b, const char *what, int r)
{
	return m2m_err_set(b->err, M2M_ERR_PROTOCOL, "ModemManager: %s: an answer of the wrong shape (%s)",
			   what, r < 0 ? strerror(-r) : "cut short");
}

/* a Modem's properties (a{sv}): its Sim into *sim (NULL if it has none) */
static int modem_props(struct sim_bus *b, sd_bus_message *m, const char *path, const char **sim)
{
	int r;

	*sim = NULL;
	if ((r = sb.enter(m, 'a', "{sv}")) <= 0)
		return shape(b, "GetManagedObjects", r);
	while ((r = sb.enter(m, 'e', "sv")) > 0) {
		const char *name;

		if ((r = sb.read_basic(m, 's', &name)) <= 0)
			return shape(b, "GetManagedObjects", r);
		if (strcmp(name, "Sim")) {
			r = sb.skip_over(m, "v");
		} else {
			if (sb.enter(m, 'v', "o") <= 0)
				return m2m_err_set(b->err, M2M_ERR_PROTOCOL,
						   "ModemManager: modem %.80s: its Sim is not an object path",
						   path);
			if ((r = sb.read_basic(m, 'o', sim)) <= 0 || (r = sb.leave(m)) < 0)
				return shape(b, "GetManagedObjects", r);
		}
		if (r < 0 || (r = sb.leave(m)) < 0)
			return shape(b, "GetManagedObjects", r);
	}
	if (r < 0 || (r = sb.leave(m)) < 0)
		return shape(b, "GetManagedObjects", r);
	return M2M_OK;
}

/*
 * GetManagedObjects' answer (a{oa{sa{sv}}}): the first modem's path into
 * *modem (NULL: no modem) and its Sim into *sim; pointers into m.
 */
static int pick_modem(struct sim_bus *b, sd_bus_message *m, const char **modem, const char **sim)
{
	int r, rc;

	*modem = *sim = NULL;
	if (sb.has_signature(m, "a{oa{sa{sv}}}") <= 0)
		return m2m_err_set(b->err, M2M_ERR_PROTOCOL,
				   "ModemManager: GetManagedObjects: not a{oa{sa{sv}}} (objects and their "
				   "interfaces' properties)");
	if ((r = sb.enter(m, 'a', "{oa{sa{sv}}}")) <= 0)
		return shape(b, "GetManagedObjects", r);
	while ((r = sb.enter(m, 'e', "oa{sa{sv}}")) > 0) {
		const char *path, *s = NULL;
		bool modem_here = false;

		if ((r = sb.read_basic(m, 'o', &path)) <= 0 || (r = sb.enter(m, 'a', "{sa{sv}}")) <= 0)
			return shape(b, "GetManagedObjects", r);
		while ((r = sb.enter(m, 'e', "sa{sv}")) > 0) {
			const char *iface;

			if ((r = sb.read_basic(m, 's', &iface)) <= 0)
				return shape(b, "GetManagedObjects", r);
			if (strcmp(iface, MM_MODEM)) {
				if ((r = sb.skip_over(m, "a{sv}")) < 0)
					return shape(b, "GetManagedObjects", r);
			} else {
				if ((rc = modem_props(b, m, path, &s)))
					return rc;
				modem_here = true;
			}
			if ((r = sb.leave(m)) < 0)
				return shape(b, "GetManagedObjects", r);
		}
		if (r < 0 || (r = sb.leave(m)) < 0 || (r = sb.leave(m)) < 0)
			return shape(b, "GetManagedObjects", r);
		if (modem_here && (!*modem || path_before(path, *modem))) {
			*modem = path;
			*sim = s;
		}
	}
	if (r < 0 || (r = sb.leave(m)) < 0)
		return shape(b, "GetManagedObjects", r);
	if (*modem && !*sim)
		return m2m_err_set(b->err, M2M_ERR_PROTOCOL, "ModemManager: modem %.80s has no Sim",
				   *modem);
	return M2M_OK;
}

/* the SIM's properties (Properties.GetAll's a{sv}) into sim, each checked */
static int sim_props(struct sim_bus *b, sd_bus_message *m, const char *path, struct pol_sim *sim)
{
	static const struct {
		const char *name;
		enum sim_field f;
		size_t off, size;
	} fields[] = {
		{ "SimIdentifier", SIM_ICCID, offsetof(struct pol_sim, iccid), sizeof(sim->iccid) },
		{ "Imsi", SIM_IMSI, offsetof(struct pol_sim, imsi), sizeof(sim->imsi) },
		{ "OperatorIdentifier", SIM_OPERATOR, offsetof(struct pol_sim, operator_id),
		  sizeof(sim->operator_id) },
	};
	int r;

	if (sb.has_signature(m, "a{sv}") <= 0)
		return m2m_err_set(b->err, M2M_ERR_PROTOCOL,
				   "ModemManager: SIM %.80s: its properties are not a{sv}", path);
	if ((r = sb.enter(m, 'a', "{sv}")) <= 0)
		return shape(b, "GetAll", r);
	while ((r = sb.enter(m, 'e', "sv")) > 0) {
		const char *name, *v, *why;
		size_t i;

		if ((r = sb.read_basic(m, 's', &name)) <= 0)
			return shape(b, "GetAll", r);
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (!strcmp(name, fields[i].name))
				break;
		if (i == sizeof(fields) / sizeof(fields[0])) {
			r = sb.skip_over(m, "v");
		} else {
			if (sb.enter(m, 'v', "s") <= 0)
				return m2m_err_set(b->err, M2M_ERR_PROTOCOL,
						   "ModemManager: SIM %.80s: its %s is not a string", path,
						   name);
			if ((r = sb.read_basic(m, 's', &v)) <= 0 || (r = sb.leave(m)) < 0)
				return shape(b, "GetAll", r);
			if ((why = sim_field_invalid(fields[i].f, v)))
				return m2m_err_set(b->err, M2M_ERR_PROTOCOL,
						   "ModemManager: SIM %.80s: its %s is %s", path, name,
						   why);
			/* checked: it fits (22, 15 and 6 characters) */
			snprintf((char *)sim + fields[i].off, fields[i].size, "%s", v);
		}
		if (r < 0 || (r = sb.leave(m)) < 0)
			return shape(b, "GetAll", r);
	}
	if (r < 0 || (r = sb.leave(m)) < 0)
		return shape(b, "GetAll", r);
	return M2M_OK;
}

/* One read: the modems, then the first one's SIM. *gone: its SIM object was not there. */
static int read_once(struct sim_bus *b, struct pol_sim *sim, bool *gone)
{
	sd_bus_message *list = NULL, *props = NULL;
	const char *modem, *path;
	int rc;

	memset(sim, 0, sizeof(*sim));
	*gone = false;
	if ((rc = call(b, MM_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL,
		       &list, NULL)))
		return rc;
	if ((rc = pick_modem(b, list, &modem, &path)) || !modem)
		goto out;
	sim->modem = true;
	if (!strcmp(path, "/"))
		goto out;
	sim->present = true;
	if ((rc = call(b, path, "org.freedesktop.DBus.Properties", "GetAll", MM_SIM, &props, gone)))
		goto out;
	rc = sim_props(b, props, path, sim);
out:
	sb.unref(props);
	sb.unref(list);
	return rc;
}

/* Every ';'-separated address of the list is unix: (see the top) */
static bool unix_only(const char *addr)
{
	for (const char *p = addr;; p++) {
		if (strncmp(p, "unix:", 5))
			return false;
		if (!(p = strchr(p, ';')))
			return true;
	}
}

int pol_sim_read(const char *bus, uint64_t deadline_ms, volatile const int *stop, struct pol_sim *sim,
		 struct m2m_err *err)
{
	struct sim_bus b = { .deadline_ms = deadline_ms, .stop = stop, .err = err };
	struct pol_sim got;
	bool gone = false;
	int r, rc;

	memset(sim, 0, sizeof(*sim));
	if (!bus && !(bus = secure_getenv("DBUS_SYSTEM_BUS_ADDRESS")))
		bus = SYSTEM_BUS_DEFAULT;
	b.addr = bus;
	pthread_once(&sb_once, sb_init);
	if (!sb.ok)
		return m2m_err_set(err, M2M_ERR_DAEMON,
				   "ModemManager: D-Bus needs libsystemd.so.0: not installed (libsystemd0)");
	if (!unix_only(bus))
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "ModemManager: %.100s: only a unix: D-Bus address is taken", bus);
	if ((r = sb.bus_new(&b.bus)) < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "ModemManager: sd_bus_new: %s", strerror(-r));
	if ((r = sb.set_address(b.bus, bus)) < 0 || (r = sb.set_bus_client(b.bus, 1)) < 0 ||
	    (r = sb.start(b.bus)) < 0) {
		rc = m2m_err_set(err, r == -EINVAL ? M2M_ERR_CONFIG : M2M_ERR_DAEMON,
				 r == -EINVAL ? "ModemManager: %.100s: not a D-Bus address (%s)" :
						"ModemManager: no bus at %.100s (%s)",
				 bus, strerror(-r));
		goto out;
	}
	for (int round = 0; round < ROUNDS; round++) {
		rc = read_once(&b, &got, &gone);
		if (!rc || !gone)
			break;
	}
	if (!rc)
		*sim = got;
out:
	sb.close_unref(b.bus);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/* Object 4 Connectivity Monitoring: getifaddrs and /proc/net/route. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "lwm2m/obj_int.h"

static const struct lw_res_def connmon_res[] = {
	{ 0, LW_INTEGER, LW_OP_R, false }, /* Network Bearer */
	{ 1, LW_INTEGER, LW_OP_R, true },  /* Available Network Bearer */
	{ 2, LW_INTEGER, LW_OP_R, false }, /* Radio Signal Strength */
	{ 4, LW_STRING, LW_OP_R, true },   /* IP Addresses */
	{ 5, LW_STRING, LW_OP_R, true },   /* Router IP Addresses */
};

/* The default route's interface and gateway from /proc/net/route. */
static bool default_route(char *ifname, size_t iflen, char *gw, size_t gwlen)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], name[IFNAMSIZ];
	unsigned dest, gate, flags;
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%15s %x %x %x", name, &dest, &gate, &flags) != 4)
			continue;
		if (dest == 0 && (flags & 0x2)) {
			struct in_addr a = { .s_addr = gate };

			snprintf(ifname, iflen, "%s", name);
			inet_ntop(AF_INET, &a, gw, (socklen_t)gwlen);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* LwM2M bearer codes: 41 Ethernet, 21 WLAN, 6 LTE-FDD (cellular modems) */
static int bearer_of(const char *ifname)
{
	if (strncmp(ifname, "wl", 2) == 0)
		return 21;
	if (strncmp(ifname, "ww", 2) == 0 || strncmp(ifname, "rmnet", 5) == 0 ||
	    strncmp(ifname, "usb", 3) == 0)
		return 6;
	return 41;
}

/* The ri-th global address of an up, non-loopback interface; false past the end. */
static bool nth_address(unsigned ri, char *out, size_t len)
{
	struct ifaddrs *ifa, *i;
	unsigned n = 0;
	bool found = false;

	if (getifaddrs(&ifa))
		return false;
	for (i = ifa; i && !found; i = i->ifa_next) {
		const void *a;

		if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			a = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		else if (i->ifa_addr->sa_family == AF_INET6 &&
			 !IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
			a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		else
			continue;
		if (n++ == ri) {
			inet_ntop(i->ifa_addr->sa_family, a, out, (socklen_t)len);
			found = true;
		}
	}
	freeifaddrs(ifa);
	return found;
}

static int connmon_count(struct lw_object *o, uint16_t inst, uint16_t res)
{
	char b[64], ifn[IFNAMSIZ];
	int n = 0;

	if (res == 1)
		return 1;
	if (res == 5)
		return default_route(ifn, sizeof(ifn), b, sizeof(b)) ? 1 : 0;
	while (n < 32 && nth_address((unsigned)n, b, sizeof(b)))
		n++;
	return n;
}

static int connmon_read(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
			struct lw_value *v)
{
	struct lw_objects *s = OBJS(o);
	char ifn[IFNAMSIZ] = "eth0", gw[64];

	switch (res) {
	case 0:
	case 1:
		default_route(ifn, sizeof(ifn), gw, sizeof(gw));
		return integer(v, bearer_of(ifn));
	case 2:
		return integer(v, 0); /* wired: no radio; modems report through their own tools */
	case 4:
		if (!nth_address(ri, s->scratch, sizeof(s->scratch)))
			return LW_NOT_FOUND;
		return str(v, s->scratch);
	case 5:
		if (!default_route(ifn, sizeof(ifn), s->scratch, sizeof(s->scratch)))
			return LW_NOT_FOUND;
		return str(v, s->scratch);
	}
	return LW_NOT_FOUND;
}

static const struct lw_object_ops connmon_ops = { .read = connmon_read, .count = connmon_count };

const struct lw_object_def lw_obj_connmon = {
	.id = 4, .res = connmon_res, .n_res = ARRAY_SIZE(connmon_res), .ops = &connmon_ops,
};

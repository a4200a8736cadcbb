/* SPDX-License-Identifier: MIT */
/*
 * Syntax of the config file's typed values: sizes, booleans, prefixes, hosts.
 * Durations have the command line's grammar: m2m_parse_duration() in lib/base.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config/tree.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

struct unit {
	const char *name;
	uint64_t n;
};

/*
 * A whole number with one of the units (its multiplier), at most max; "" is
 * a unit too (the default one). NULL, or why not, with too_large as the
 * reason for a value over max.
 */
static const char *parse_units(const char *s, const struct unit *units, size_t nunits,
			       uint64_t max, const char *too_large, uint64_t *out)
{
	uint64_t v = 0;
	bool big = false;
	const char *p = s;

	if (!is_digit(*p))
		return "not a whole number";
	for (; is_digit(*p); p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max) {
			big = true;
			v = max + 1;
		}
	}
	for (size_t i = 0; i < nunits; i++) {
		if (strcmp(p, units[i].name) != 0)
			continue;
		if (big || v * units[i].n > max)
			return too_large;
		*out = v * units[i].n;
		return NULL;
	}
	return "unknown unit";
}

const char *cfg_parse_size(const char *s, uint64_t max, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1 }, { "B", 1 }, { "KiB", 1024 }, { "MiB", 1024 * 1024 },
	};

	return parse_units(s, units, sizeof(units) / sizeof(units[0]), max, "too large", out);
}

const char *cfg_parse_bool(const char *s, bool *b)
{
	if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0) {
		*b = true;
		return NULL;
	}
	if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0) {
		*b = false;
		return NULL;
	}
	return "not a boolean";
}

const char *cfg_check_cidr(const char *s, char *net, size_t netlen)
{
	char addr[INET6_ADDRSTRLEN];
	unsigned char a[16];
	const char *slash = strchr(s, '/'), *p;
	unsigned plen = 0, bits, i;
	bool host = false;
	int fam;

	if (!slash)
		return "no /prefix-length";
	if (slash == s || (size_t)(slash - s) >= sizeof(addr))
		return "not an IP address";
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	fam = strchr(addr, ':') ? AF_INET6 : AF_INET;
	bits = fam == AF_INET6 ? 128 : 32;
	if (inet_pton(fam, addr, a) != 1)
		return fam == AF_INET6 ? "not an IPv6 address" : "not an IPv4 address";
	p = slash + 1;
	if (!is_digit(*p))
		return "no /prefix-length";
	for (i = 0; is_digit(*p) && i < 4; p++, i++)
		plen = plen * 10 + (unsigned)(*p - '0');
	if (*p || plen > bits || (slash[1] == '0' && i > 1))
		return fam == AF_INET6 ? "prefix length not in 0..128" : "prefix length not in 0..32";
	for (i = plen; i < bits; i++) {
		if (a[i / 8] & (0x80 >> (i % 8))) {
			host = true;
			a[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
		}
	}
	if (!host)
		return NULL;
	if (net && netlen && inet_ntop(fam, a, addr, sizeof(addr)))
		snprintf(net, netlen, "%s/%u", addr, plen);
	return "address bits set past the prefix length";
}

const char *cfg_check_host(const char *s)
{
	unsigned char a[16];
	size_t len = strlen(s), label = 0;
	bool digits = true;

	if (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1)
		return NULL;
	if (strchr(s, ':'))
		return "not an IPv6 address";
	if (len && s[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return "not a DNS name";
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? s[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return "not a DNS name";
			if (i < len)
				digits = true;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && c != '-' && c != '_')
			return "not a DNS name";
		if (c == '-' && label == 0)
			return "not a DNS name";
		if (!is_digit(c))
			digits = false;
		label++;
	}
	/* 10.1.2.300 is a typo of an address, not a name: top-level labels have letters */
	if (digits)
		return "not an IPv4 address";
	return NULL;
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

unsigned cfg_distance(const char *a, size_t alen, const char *b)
{
	unsigned char d[34][34];
	size_t blen = strlen(b), i, j;

	if (alen > 32 || blen > 32 || (alen > blen ? alen - blen : blen - alen) > 2)
		return 3;
	for (i = 0; i <= alen; i++)
		d[i][0] = (unsigned char)i;
	for (j = 0; j <= blen; j++)
		d[0][j] = (unsigned char)j;
	for (i = 1; i <= alen; i++) {
		for (j = 1; j <= blen; j++) {
			unsigned cost = lower(a[i - 1]) != lower(b[j - 1]);
			unsigned v = d[i - 1][j] + 1u;

			if (d[i][j - 1] + 1u < v)
				v = d[i][j - 1] + 1u;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
			    lower(a[i - 2]) == lower(b[j - 1]) && d[i - 2][j - 2] + 1u < v)
				v = d[i - 2][j - 2] + 1u;
			d[i][j] = (unsigned char)v;
		}
	}
	return d[alen][blen] > 3 ? 3 : d[alen][blen];
}

void cfg_format_duration(char *out, size_t len, unsigned ms)
{
	if (ms && ms % 3600000 == 0)
		snprintf(out, len, "%uh", ms / 3600000);
	else if (ms && ms % 60000 == 0)
		snprintf(out, len, "%um", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(out, len, "%us", ms / 1000);
	else
		snprintf(out, len, "%ums", ms);
}

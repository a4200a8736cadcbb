/* SPDX-License-Identifier: MIT */
/*
 * The location fence: a circle on the earth, and what a fix from gpsd says
 * about being in it.
 */
#include <math.h>
#include <stdio.h>

#include "m2m/config.h"
#include "m2m/policy.h"
#include "policy/policy_int.h"

/* The mean radius of the earth (IUGG), metres: the sphere is within 0.5 % of WGS84. */
#define EARTH_R 6371008.8

static double rad(double deg)
{
	return deg * (M_PI / 180.0);
}

/* haversine: stable for short distances, where the law of cosines loses its digits */
double pol_distance_m(double lat1, double lon1, double lat2, double lon2)
{
	double dlat = rad(lat2 - lat1), dlon = rad(lon2 - lon1);
	double a = sin(dlat / 2) * sin(dlat / 2) +
		   cos(rad(lat1)) * cos(rad(lat2)) * sin(dlon / 2) * sin(dlon / 2);

	if (a > 1)
		a = 1;
	return 2 * EARTH_R * atan2(sqrt(a), sqrt(1 - a));
}

static void say_distance(char *out, size_t len, double m)
{
	if (m < 10000)
		snprintf(out, len, "%.0f m", m);
	else
		snprintf(out, len, "%.1f km", m / 1000);
}

int pol_fence_verdict(const struct m2m_policy_config *pc, const struct pol_fix *fix, int64_t now,
		      char *detail, size_t len)
{
	char d[32], r[32], e[32];
	double dist, err;
	int64_t age;

	if (!fix || fix->mode < 2) {
		snprintf(detail, len, "no fix");
		return M2M_POLICY_UNKNOWN;
	}
	/* a fix from another time is none: the device may have moved since (or the clock) */
	age = fix->time ? now - fix->time : 0;
	if (age < 0)
		age = -age;
	if ((uint64_t)age * 1000 > pc->max_age_ms) {
		snprintf(detail, len, "the last fix is %lld s from now (max_age %u s)", (long long)age,
			 pc->max_age_ms / 1000);
		return M2M_POLICY_UNKNOWN;
	}
	err = isnan(fix->eph) ? 0 : fix->eph;
	say_distance(r, sizeof(r), pc->fence_radius_m);
	if (err > pc->fence_radius_m) {
		say_distance(e, sizeof(e), err);
		snprintf(detail, len, "the fix's error (%s) is larger than the fence (radius %s)", e, r);
		return M2M_POLICY_UNKNOWN;
	}
	dist = pol_distance_m(pc->fence_lat, pc->fence_lon, fix->lat, fix->lon);
	say_distance(d, sizeof(d), dist);
	/* outside only when the error estimate cannot put it inside */
	if (dist - err > pc->fence_radius_m) {
		snprintf(detail, len, "%s from the fence's centre (radius %s) at %.5f,%.5f", d, r,
			 fix->lat, fix->lon);
		return M2M_POLICY_BROKEN;
	}
	snprintf(detail, len, "%s from the fence's centre (radius %s)", d, r);
	return M2M_POLICY_HOLDS;
}

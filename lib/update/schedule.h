/* SPDX-License-Identifier: MIT */
/*
 * When a `m2mdm-update check` run from cron sends its first request: after a
 * delay in a window (the jitter), so that a fleet started by the same cron
 * line (or powered up together) does not reach the server in the same second.
 *
 * The window: UPD_SCHEDULE_WINDOW_MS (10 min) unless configured. The mean
 * rate a fleet of N devices puts on the server is N / window: 100,000 devices
 * in 10 min are 167 checks a second, which one modest server answers; the
 * window is a sixth of the default bound of a check run (update.timeout,
 * 1 h), so the wait does not eat the time the download needs; and a longer
 * window only delays every device's update. A larger fleet sets a longer one.
 *
 * The point in the window: a per-device offset, derived from the device id
 * (SHA-256), so that a device checks at the same point of the window every
 * day; randomness from getrandom() only for a device without an id. Both
 * spread a fleet uniformly (the bench shows it: bench/update-fleet.c), but
 * after a mass power outage, when the devices boot together and run the
 * check that was due (or finish a pending one), the offset needs no entropy:
 * a device early in boot, without a hardware RNG, may wait for the kernel's
 * random pool to be seeded (getrandom blocks) or, worse, fall back to a
 * seed every device shares (the boot time, a pid), and then the fleet fires
 * together, at the very moment the server is recovering too. The offset is
 * also what the operator can predict and check against the real fleet's ids
 * before deploying (the bench takes ids from a file).
 */
#ifndef M2M_UPDATE_SCHEDULE_H
#define M2M_UPDATE_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "m2m/m2m.h"

#define UPD_SCHEDULE_WINDOW_MS (10u * 60u * 1000u)

/*
 * The delay before the first request for the value r (uniform over 64 bits):
 * in [0, window_ms), uniform, 0 if window_ms is 0. Pure: the simulator feeds
 * it the values.
 */
unsigned upd_schedule_delay_ms(unsigned window_ms, uint64_t r);

/*
 * This device's value for upd_schedule_delay_ms: the first 8 bytes of
 * SHA-256("m2m-update-check:" device_id) for a device id (not NULL or ""),
 * else 8 bytes of getrandom(). FAILURE only if neither can be had.
 */
int upd_schedule_value(const char *device_id, uint64_t *r, struct m2m_err *err);

#endif

#!/usr/bin/env python3
# A GPS receiver for a gpsd that reads NMEA 0183 from a udp:// source (tests/lab/gps.sh):
# each epoch is an RMC (date, time, position) and a GGA (fix quality, satellites, HDOP,
# altitude) with correct checksums, stamped with the CURRENT UTC time, sent as one UDP
# datagram each to 127.0.0.1:UDP_PORT. RMC goes first, so that gpsd knows the date when
# the GGA completes the epoch's 3D fix.
#
# usage: nmea-feed.py [-n N] [-i SECONDS] [--hdop H] [--await PORT] [--timeout S]
#                     UDP_PORT LAT LON
#   -n N         N epochs (default 1), one every -i SECONDS (default 1)
#   --hdop H     the GGA's HDOP (default 0.9)
#   --await PORT after the last epoch, ask the gpsd on 127.0.0.1:PORT (?WATCH and ?POLL,
#                gpsd_json(5)) until it reports a TPV with mode >= 2 at LAT LON stamped
#                with that epoch's time (within 0.5 s); exit 1 if not within --timeout S
#                (default 5). Prints the TPV's line.
# Positions go out with 5 decimals of a minute (1.7e-7 degrees), which gpsd keeps.
# Test code, not installed.
import argparse
import datetime
import functools
import json
import socket
import sys
import time


def sentence(body):
    cs = functools.reduce(lambda c, x: c ^ ord(x), body, 0)
    return "$%s*%02X\r\n" % (body, cs)


def angle(deg, width, pos, neg):
    h = pos if deg >= 0 else neg
    deg = abs(deg)
    d = int(deg)
    m = round((deg - d) * 60, 5)
    if m >= 60:
        d, m = d + 1, 0.0
    return "%0*d%08.5f" % (width, d, m), h


def epoch(now, lat, lon, hdop):
    t = now.strftime("%H%M%S.") + "%02d" % (now.microsecond // 10000)
    date = now.strftime("%d%m%y")
    la, ns = angle(lat, 2, "N", "S")
    lo, ew = angle(lon, 3, "E", "W")
    rmc = "GPRMC,%s,A,%s,%s,%s,%s,0.0,0.0,%s,,,A" % (t, la, ns, lo, ew, date)
    gga = "GPGGA,%s,%s,%s,%s,%s,1,08,%.1f,35.0,M,47.0,M,," % (t, la, ns, lo, ew, hdop)
    return [sentence(rmc), sentence(gga)]


def tpv_time(s):
    # gpsd: ISO 8601 UTC, "2026-12-07T15:00:01.000Z" (Python 3.11 reads the Z)
    return datetime.datetime.fromisoformat(s).timestamp()


def matches(tpv, lat, lon, when):
    try:
        return (tpv.get("class") == "TPV" and tpv.get("mode", 0) >= 2
                and abs(tpv["lat"] - lat) < 1e-6 and abs(tpv["lon"] - lon) < 1e-6
                and abs(tpv_time(tpv["time"]) - when) < 0.5)
    except (KeyError, TypeError, ValueError):
        return False


def await_fix(port, lat, lon, when, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b'?WATCH={"enable":true,"json":true};?POLL;\n')
                f = c.makefile("rb")
                while time.monotonic() < end:
                    c.settimeout(max(0.05, end - time.monotonic()))
                    line = f.readline()
                    if not line:
                        break
                    o = json.loads(line)
                    found = [o] if o.get("class") == "TPV" else o.get("tpv", []) \
                        if o.get("class") == "POLL" else []
                    for tpv in found:
                        if matches(tpv, lat, lon, when):
                            print(line.decode().strip(), flush=True)
                            return True
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1)
    ap.add_argument("-i", type=float, default=1.0)
    ap.add_argument("--hdop", type=float, default=0.9)
    ap.add_argument("--await", dest="await_port", type=int)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("udp_port", type=int)
    ap.add_argument("lat", type=float)
    ap.add_argument("lon", type=float)
    a = ap.parse_args()
    if not (-90 <= a.lat <= 90 and -180 <= a.lon <= 180):
        sys.exit("nmea-feed: latitude or longitude out of range")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    when = 0.0
    for k in range(a.n):
        if k:
            time.sleep(a.i)
        now = datetime.datetime.now(datetime.timezone.utc)
        when = now.replace(microsecond=now.microsecond // 10000 * 10000).timestamp()
        for line in epoch(now, a.lat, a.lon, a.hdop):
            s.sendto(line.encode(), ("127.0.0.1", a.udp_port))
    if a.await_port and not await_fix(a.await_port, a.lat, a.lon, when, a.timeout):
        sys.exit("nmea-feed: gpsd on port %d did not report %.7f %.7f within %g s"
                 % (a.await_port, a.lat, a.lon, a.timeout))


main()

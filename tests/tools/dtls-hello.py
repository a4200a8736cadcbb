#!/usr/bin/env python3
# What a capture shows of DTLS 1.2 handshakes (RFC 6347 4.1, 4.2.2; RFC 5246 7.4.1):
# for each ClientHello and ServerHello, the extension numbers it carries (RFC 5746's
# renegotiation_info is 65281) and, for a ClientHello, whether it lists the
# TLS_EMPTY_RENEGOTIATION_INFO_SCSV cipher suite (0x00ff); then the number of
# application data records each way. One JSON line each.
#
# usage: dtls-hello.py CAPTURE.pcap SERVER_PORT
# (tcpdump -w on lo or an Ethernet device: link types 1 and 113 (Linux cooked))
import json
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if link == 1:
            ethertype, ip = struct.unpack(">H", pkt[12:14])[0], pkt[14:]
        elif link == 113:
            ethertype, ip = struct.unpack(">H", pkt[14:16])[0], pkt[16:]
        else:
            continue
        if ethertype == 0x0800 and len(ip) >= 20 and ip[9] == 17:
            udp = ip[(ip[0] & 15) * 4:]
        elif ethertype == 0x86DD and len(ip) >= 40 and ip[6] == 17:
            udp = ip[40:]
        else:
            continue
        if len(udp) >= 8:
            sport, dport = struct.unpack(">HH", udp[:4])
            yield sport, dport, udp[8:]


def extensions(body, pos):
    out = []
    if pos + 2 > len(body):
        return out
    end = pos + 2 + struct.unpack(">H", body[pos:pos + 2])[0]
    pos += 2
    while pos + 4 <= end:
        t, n = struct.unpack(">HH", body[pos:pos + 4])
        out.append(t)
        pos += 4 + n
    return out


def hello(kind, body):
    pos = 2 + 32  # version, random
    pos += 1 + body[pos]  # session id
    if kind == 1:
        pos += 1 + body[pos]  # cookie (DTLS)
        n = struct.unpack(">H", body[pos:pos + 2])[0]
        suites = [struct.unpack(">H", body[pos + 2 + i:pos + 4 + i])[0] for i in range(0, n, 2)]
        pos += 2 + n
        pos += 1 + body[pos]  # compression methods
        return dict(type="ClientHello", extensions=extensions(body, pos),
                    scsv=0x00FF in suites)
    suite = struct.unpack(">H", body[pos:pos + 2])[0]
    pos += 3  # cipher suite, compression method
    return dict(type="ServerHello", cipher_suite=suite, extensions=extensions(body, pos))


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    appdata = {"client": 0, "server": 0}
    for sport, dport, d in packets(path):
        if port not in (sport, dport):
            continue
        frm = "server" if sport == port else "client"
        pos = 0
        while pos + 13 <= len(d):
            ctype, epoch = d[pos], struct.unpack(">H", d[pos + 3:pos + 5])[0]
            length = struct.unpack(">H", d[pos + 11:pos + 13])[0]
            rec = d[pos + 13:pos + 13 + length]
            pos += 13 + length
            if ctype == 23:
                appdata[frm] += 1
            # the hellos travel in epoch 0, unencrypted, unfragmented at these sizes
            if ctype != 22 or epoch != 0 or len(rec) < 12 or rec[0] not in (1, 2):
                continue
            flen = int.from_bytes(rec[9:12], "big")
            try:
                h = hello(rec[0], rec[12:12 + flen])
            except (IndexError, struct.error):
                continue
            print(json.dumps(dict(**{"from": frm}, **h)))
    print(json.dumps(dict(event="application_data", **appdata)))


if __name__ == "__main__":
    main()

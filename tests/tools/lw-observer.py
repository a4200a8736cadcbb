#!/usr/bin/env python3
# THE PROJECT'S OWN TEST SERVER, not an independent implementation: a minimal
# LwM2M server (plain CoAP, 127.0.0.1) for what lwm2m-node-lib cannot show:
# observations that outlive the client's process (queue mode, one cron run
# after another, each from a new port), notifications stored while the server
# was out of reach, a server cancelling with a reset (RFC 7641 3.6), and
# values larger than one block: the rest of a notification or answer is
# fetched with Block2 GETs (RFC 7959 2.4, 3.4), each block's ETag checked
# against the first one's, and the transfer started again from block 0 when
# it changed.
#
# usage: lw-observer.py PORT CONTROL_FIFO
# Events are JSON lines on stdout. Commands, one per line on the FIFO:
#   observe PATH [CF]  GET PATH with Observe 0 (Accept CF), to where the client last spoke from
#   fetch PATH [CF]    GET PATH (Accept CF), block by block
#   exec PATH          POST PATH (Execute), no arguments
#   blockdelay MS      wait MS before asking for block 1 of a value (the value may change)
#   write PATH [VALUE] PUT PATH, text/plain (no VALUE: empty)
#   attr PATH QUERY    Write-Attributes: PUT PATH?QUERY without a payload
#   push PATH FILE SZX [CF]  PUT FILE's bytes to PATH in Block1 blocks of 16 << SZX bytes
#                      (RFC 7959 2.3; Size1 in the first), each after the 2.31 Continue of the
#                      one before; one event at the end: the last answer, the blocks sent, the
#                      2.31s and how many of them did not echo the block's NUM with M=1
#   block PATH FILE NUM SZX MORE [CF]  one block of FILE alone (NUM, M=MORE): its answer
#   deaf | hear        close the socket (the client gets ICMP port unreachable) | reopen it
#   reset PATH         answer the next notification of PATH's observation with a reset
#   mute-updates | answer-updates  leave the client's Updates unanswered (a server that
#                      is slow or gone for them only) | answer them again
# The answer to a command's request (observe, fetch, write, attr, exec) carries sent_ms:
# when the request was sent (the events' clock, "ms"), so ms - sent_ms is how long the
# client took to answer it.
#   strict             from now on, an observation is the token AND the client's address
#                      it answered from (RFC 7641 4.1, RFC 7252 5.3.2): a notification with
#                      its token from another address is reset ("notify-foreign")
import os
import random
import select
import socket
import sys
import time

from labcoap import T0, Control, build, event, opt, parse, path_opts, uint, uint_bytes


def main():
    port, fifo = int(sys.argv[1]), sys.argv[2]
    ctl = Control(fifo)
    sock, peer, regs, obs, resets, pending = None, None, {}, {}, set(), {}
    mid = random.randrange(0x10000)
    # values arriving in blocks: id -> what is known so far; GETs due later
    lgs, later, blockdelay, mute_updates, strict = {}, [], 0.0, False, False
    bodies = {}  # the blocks of a Register so far, per client address
    pushes = {}  # token -> a body we send in Block1 blocks
    sent = {}  # token -> when a command's request was sent (ms, the events' clock)

    def push_send(tok):
        nonlocal mid
        ps = pushes[tok]
        size = 16 << ps["szx"]
        chunk = ps["data"][ps["num"] * size:(ps["num"] + 1) * size]
        more = ps["more_flag"] if ps["single"] else (ps["num"] + 1) * size < len(ps["data"])
        mid = (mid + 1) & 0xFFFF
        opts = path_opts(ps["path"]) + [(27, uint_bytes(ps["num"] << 4 | (8 if more else 0) |
                                                        ps["szx"]))]
        if ps["cf"] is not None:
            opts.append((12, uint_bytes(ps["cf"])))
        if ps["num"] == 0 and not ps["single"]:
            opts.append((60, uint_bytes(len(ps["data"]))))
        ps["more"] = more
        sock.sendto(build(0, 3, mid, tok, opts, chunk), ps["peer"])

    def push_answer(tok, m):
        ps = pushes[tok]
        b1 = opt(m["opts"], 27)
        if not ps["single"] and ps["more"] and m["code"] == 95:  # 2.31 Continue: the next block
            if b1 is None or uint(b1) >> 4 != ps["num"] or not uint(b1) & 8:
                ps["bad_b1"] += 1
            ps["continues"] += 1
            ps["num"] += 1
            push_send(tok)
            return
        event(event="block" if ps["single"] else "push", path=ps["path"],
              code="%d.%02d" % (m["code"] >> 5, m["code"] & 31), blocks=ps["num"] + 1,
              continues=ps["continues"], bad_b1=ps["bad_b1"],
              b1=uint(b1) if b1 is not None else None,
              bytes=min(len(ps["data"]), (ps["num"] + 1) * (16 << ps["szx"])),
              elapsed_ms=int((time.monotonic() - ps["t0"]) * 1000))
        del pushes[tok]

    def get_block(rid, num):
        nonlocal mid
        lg = lgs[rid]
        mid = (mid + 1) & 0xFFFF
        tok = os.urandom(4)
        opts = path_opts(lg["path"]) + [(23, uint_bytes(num << 4 | lg["szx"]))]
        if lg["accept"] is not None:
            opts.append((17, uint_bytes(lg["accept"])))
        pending[tok] = ("block", rid, num)
        delay = blockdelay if num == 1 and not lg["restarts"] else 0
        if num == 1 and not lg["restarts"]:
            lg["delay_ms"] = int(delay * 1000)
        due = time.monotonic() + delay
        later.append((due, build(0, 1, mid, tok, opts), lg["peer"]))

    def first_block(ev, accept, m, src, sent_ms=None):
        # the first block of a value (or the whole of it); sent_ms last, after the fields
        # tests match in order
        b2 = opt(m["opts"], 23)
        sent_kw = {} if sent_ms is None else {"sent_ms": sent_ms}
        if b2 is None or not uint(b2) & 8:
            event(**ev, value=m["payload"].decode(errors="replace"), **sent_kw)
            return
        rid = len(lgs) + 1
        while rid in lgs:
            rid += 1
        s2 = opt(m["opts"], 28)
        lgs[rid] = dict(ev=ev, path=ev["path"], accept=accept, szx=uint(b2) & 7,
                        etag=opt(m["opts"], 4), data=m["payload"], restarts=0, peer=src,
                        size2=uint(s2) if s2 is not None else None, sent_kw=sent_kw)
        get_block(rid, 1)

    def next_block(rid, num, m):
        lg = lgs[rid]
        etag, b2 = opt(m["opts"], 4), opt(m["opts"], 23)
        if m["code"] != 69 or b2 is None or uint(b2) >> 4 != num:
            event(**lg["ev"], error="block %d: code %d.%02d" % (num, m["code"] >> 5,
                                                              m["code"] & 31))
            del lgs[rid]
            return
        if etag != lg["etag"] and num > 0:
            # a newer value: what came so far is of no use (RFC 7959 2.4)
            event(event="etag-changed", path=lg["path"], block=num,
                  was=(lg["etag"] or b"").hex(), now=(etag or b"").hex())
            lg["restarts"] += 1
            if lg["restarts"] > 3:
                event(**lg["ev"], error="the value kept changing")
                del lgs[rid]
                return
            get_block(rid, 0)
            return
        if num == 0:
            lg["data"], lg["etag"] = b"", etag
        lg["data"] += m["payload"]
        if uint(b2) & 8:
            get_block(rid, num + 1)
            return
        event(**lg["ev"], value=lg["data"].decode(errors="replace"), blocks=num + 1,
              etag=(lg["etag"] or b"").hex(), restarts=lg["restarts"], size2=lg["size2"],
              length=len(lg["data"]), block_size=16 << lg["szx"],
              delay_ms=lg.get("delay_ms", 0), **lg["sent_kw"])
        del lgs[rid]

    def listen():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return s

    sock = listen()
    event(event="listening", port=port)
    while True:
        now = time.monotonic()
        for item in [x for x in later if x[0] <= now]:
            later.remove(item)
            if sock:
                sock.sendto(item[1], item[2])
        wait = min([1.0] + [max(0.0, x[0] - now) for x in later])
        rl = [ctl] + ([sock] if sock else [])
        r, _, _ = select.select(rl, [], [], wait)
        for cmd in ctl.commands() if ctl in r else []:
            if cmd[0] == "deaf" and sock:
                sock.close()
                sock = None
                event(event="deaf")
            elif cmd[0] == "hear" and not sock:
                sock = listen()
                event(event="hear")
            elif cmd[0] == "reset":
                resets.add(cmd[1])
                event(event="will-reset", path=cmd[1])
            elif cmd[0] == "mute-updates":
                mute_updates = True
                event(event="mute-updates")
            elif cmd[0] == "answer-updates":
                mute_updates = False
                event(event="answer-updates")
            elif cmd[0] == "strict":
                strict = True
                event(event="strict")
            elif cmd[0] in ("push", "block") and sock and peer:
                single = cmd[0] == "block"
                with open(cmd[2], "rb") as f:
                    data = f.read()
                ncf = 6 if single else 4
                tok = os.urandom(4)
                pushes[tok] = dict(path=cmd[1], data=data, szx=int(cmd[4 if single else 3]),
                                   num=int(cmd[3]) if single else 0, single=single,
                                   more_flag=single and cmd[5] == "1",
                                   cf=int(cmd[ncf]) if len(cmd) > ncf else None, continues=0,
                                   bad_b1=0, peer=peer, t0=time.monotonic(), more=False)
                push_send(tok)
            elif cmd[0] == "blockdelay":
                blockdelay = int(cmd[1]) / 1000.0
            elif cmd[0] in ("observe", "fetch", "write", "attr", "exec") and sock and peer:
                mid = (mid + 1) & 0xFFFF
                tok = os.urandom(4)
                accept = int(cmd[2]) if cmd[0] in ("observe", "fetch") and \
                    len(cmd) > 2 else None
                acc = [(17, uint_bytes(accept))] if accept is not None else []
                if cmd[0] == "observe":
                    pkt = build(0, 1, mid, tok, [(6, b"")] + path_opts(cmd[1]) + acc)
                elif cmd[0] == "fetch":
                    pkt = build(0, 1, mid, tok, path_opts(cmd[1]) + acc)
                elif cmd[0] == "exec":
                    pkt = build(0, 2, mid, tok, path_opts(cmd[1]))
                elif cmd[0] == "attr":
                    pkt = build(0, 3, mid, tok, path_opts(cmd[1]) +
                                [(15, q.encode()) for q in cmd[2].split("&")])
                else:
                    pkt = build(0, 3, mid, tok, path_opts(cmd[1]) + [(12, b"")],
                                (cmd[2] if len(cmd) > 2 else "").encode())
                pending[tok] = (cmd[0], cmd[1], accept)
                sent[tok] = int((time.monotonic() - T0) * 1000)
                sock.sendto(pkt, peer)
        if not sock or sock not in r:
            continue
        b, src = sock.recvfrom(65536)
        m = parse(b)
        if not m:
            continue
        opts = m["opts"]
        path = "/" + "/".join(v.decode() for n, v in opts if n == 11)
        query = "&".join(v.decode() for n, v in opts if n == 15)
        if m["code"] in (1, 2, 3, 4):  # a request of the client: Register, Update, De-register
            peer = src
            b1 = opt(opts, 27)
            if m["code"] == 2 and path == "/rd" and b1 is not None:
                # a Register in blocks (RFC 7959 2.5): each acknowledged, the last answered
                num, more = uint(b1) >> 4, uint(b1) & 8
                have = bodies.get(src, []) if num else []
                if num != len(have):  # a block out of order or repeated
                    event(event="error", error="Register block %d after %d" % (num, len(have)))
                    sock.sendto(build(2, 136, m["mid"], m["token"]), src)  # 4.08 Incomplete
                    continue
                bodies[src] = have + [m["payload"]]
                if more:
                    resp = build(2, 95, m["mid"], m["token"], [(27, b1)])  # 2.31 Continue
                    sock.sendto(resp, src)
                    continue
                m["payload"], blocks = b"".join(bodies.pop(src)), num + 1
            else:
                blocks = 1
            if m["code"] == 2 and path == "/rd":
                loc = "%04x" % random.randrange(0x10000)
                regs[loc] = query
                event(event="register", query=query, port=src[1], location="/rd/" + loc,
                      links=m["payload"].decode(errors="replace"), blocks=blocks)
                resp = build(2, 65, m["mid"], m["token"], [(8, b"rd"), (8, loc.encode())] +
                             ([(27, b1)] if b1 is not None else []))
            elif m["code"] == 2 and path[4:] in regs and mute_updates:
                event(event="update-ignored", location=path, mid=m["mid"])
                continue
            elif m["code"] == 2 and path[4:] in regs:
                event(event="update", query=query, port=src[1], location=path)
                resp = build(2, 68, m["mid"], m["token"])
            elif m["code"] == 4 and path[4:] in regs:
                del regs[path[4:]]
                event(event="deregister", location=path)
                resp = build(2, 66, m["mid"], m["token"])
            else:
                event(event="unknown", code=m["code"], path=path)
                resp = build(2, 132, m["mid"], m["token"])
            sock.sendto(resp, src)
            continue
        if m["type"] == 2 and m["code"] == 0:
            continue  # an empty ACK of the client: its separate answer follows
        tok = m["token"]
        if tok in pushes:
            push_answer(tok, m)
            if m["type"] == 0:
                sock.sendto(build(2, 0, m["mid"]), src)
            continue
        seq = next((uint(v) for n, v in opts if n == 6), None)
        cf = next((uint(v) for n, v in opts if n == 12), None)
        if tok in pending and pending[tok][0] == "block":  # a later block of a value
            _, rid, num = pending.pop(tok)
            if rid in lgs:
                next_block(rid, num, m)
        elif tok in pending:  # the answer to our request
            what, p, accept = pending.pop(tok)
            code = "%d.%02d" % (m["code"] >> 5, m["code"] & 31)
            if what == "observe" and seq is not None:
                obs[tok] = (p, accept, src)
            first_block(dict(event=what, path=p, code=code, token=tok.hex(), seq=seq),
                        accept, m, src, sent.pop(tok, None))
        elif tok in obs and strict and obs[tok][2] != src:
            event(event="notify-foreign", path=obs[tok][0], token=tok.hex(), seq=seq,
                  port=src[1], observed_port=obs[tok][2][1], reset=True)
            sock.sendto(build(3, 0, m["mid"]), src)
            continue
        elif tok in obs:
            p, accept, _ = obs[tok]
            rst = p in resets
            first_block(dict(event="notify", path=p, token=tok.hex(), seq=seq, cf=cf,
                             port=src[1],
                             type=["CON", "NON"][m["type"]] if m["type"] < 2 else m["type"],
                             reset=rst), accept, m, src)
            if rst:
                del obs[tok]
                resets.discard(p)
                sock.sendto(build(3, 0, m["mid"]), src)
                continue
        elif m["type"] in (0, 1):
            event(event="stray", token=tok.hex(), code=m["code"])
            sock.sendto(build(3, 0, m["mid"]), src)
            continue
        if m["type"] == 0:  # confirmable: acknowledge
            sock.sendto(build(2, 0, m["mid"]), src)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass

#!/usr/bin/env python3
# A UDP relay between a client and a server on 127.0.0.1 that can play a NAT
# or a lossy link: the client talks to LISTEN_PORT, the relay to the server at
# TARGET_PORT from a port of its own.
#
# usage: udp-relay.py LISTEN_PORT TARGET_PORT CONTROL_FIFO
# Commands, one per line on the FIFO:
#   rebind     talk to the server from a new port from now on (a NAT that rebound: the
#              server sees a peer it does not know, as after a failover or a restart)
#   loss P     drop each datagram, both ways, with probability P (0..1)
# Events are JSON lines on stdout ("listening", "rebind" with the new port).
import random
import select
import socket
import sys

from labcoap import Control, event


def upstream(target):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.connect(("127.0.0.1", target))
    return s


def main():
    listen, target, fifo = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    ctl = Control(fifo)
    down = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    down.bind(("127.0.0.1", listen))
    up, client, loss = upstream(target), None, 0.0
    event(event="listening", port=listen, upstream=up.getsockname()[1])
    while True:
        r, _, _ = select.select([ctl, down, up], [], [], 1.0)
        if ctl in r:
            for cmd in ctl.commands():
                if cmd[0] == "rebind":
                    up.close()
                    up = upstream(target)
                    event(event="rebind", upstream=up.getsockname()[1])
                elif cmd[0] == "loss":
                    loss = float(cmd[1])
                    event(event="loss", p=loss)
            continue
        if down in r:
            data, client = down.recvfrom(65536)
            if random.random() >= loss:
                up.send(data)
        if up in r:
            try:
                data = up.recv(65536)
            except ConnectionRefusedError:
                continue
            if client and random.random() >= loss:
                down.sendto(data, client)


if __name__ == "__main__":
    main()

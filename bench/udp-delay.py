#!/usr/bin/env python3
"""A UDP relay that adds delay (this kernel has no netem): datagrams to
127.0.0.1:LISTEN go to 127.0.0.1:TARGET and answers come back, each way held
RTT/2 ms, so a round trip through it takes RTT ms more. One upstream socket
per client address, so the server can send requests back (LwM2M does).

usage: udp-delay.py LISTEN TARGET RTT_MS
"""
import asyncio
import sys

LISTEN, TARGET, RTT = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
HALF = RTT / 2000.0


class Upstream(asyncio.DatagramProtocol):
    def __init__(self, front, client):
        self.front, self.client, self.transport = front, client, None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        loop = asyncio.get_running_loop()
        loop.call_later(HALF, self.front.transport.sendto, data, self.client)


class Front(asyncio.DatagramProtocol):
    def __init__(self):
        self.transport, self.ups = None, {}

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        loop = asyncio.get_running_loop()
        loop.call_later(HALF, self.forward, data, addr)

    def forward(self, data, addr):
        up = self.ups.get(addr)
        if up is None:
            self.ups[addr] = up = Upstream(self, addr)
            asyncio.ensure_future(self.connect(up, data))
            return
        if up.transport:
            up.transport.sendto(data)

    async def connect(self, up, first):
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: up, remote_addr=("127.0.0.1", TARGET))
        up.transport.sendto(first)


async def main():
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(Front, local_addr=("127.0.0.1", LISTEN))
    print("relay", LISTEN, "->", TARGET, "rtt", RTT, flush=True)
    await asyncio.Event().wait()


asyncio.run(main())

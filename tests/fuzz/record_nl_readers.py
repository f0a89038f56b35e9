#!/usr/bin/env python3
# record_nl_readers.py: records the seed corpus of fuzz_nl_readers (a link dump,
# nftables monitor events, a capped ACK) from this kernel.  Run it as root in a
# scratch network namespace, inside tests/fuzz/corpus/nl_readers:
#   ip netns add rec; ip netns exec rec python3 ../../record_nl_readers.py; ip netns del rec
# ack-extack-offs.bin (an extended ACK blaming an attribute) is written by hand.
import socket, struct, os, subprocess, time
NETLINK_ROUTE=0; NETLINK_NETFILTER=12
SOL_NETLINK=270
def nlmsg(t, flags, seq, payload):
    return struct.pack("=LHHLL", 16+len(payload), t, flags, seq, 0) + payload
def pad(b): return b + b"\0"*((4-len(b)%4)%4)
def attr(t, data): return pad(struct.pack("=HH", 4+len(data), t) + data)
# 1. link dump
s=socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
s.bind((0,0))
ifi=struct.pack("=BxHiII",0,0,0,0,0)
s.send(nlmsg(18, 0x301, 1, ifi))  # RTM_GETLINK, REQUEST|DUMP
i=0
while True:
    d=s.recv(65536)
    open("links-%02d.bin"%i,"wb").write(d); i+=1
    t=struct.unpack("=LH",d[:6])[1]
    if t==3 or i>4: break
# 2. nft monitor
m=socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
m.bind((0, 0)); m.setsockopt(SOL_NETLINK, 1, 7)  # NETLINK_ADD_MEMBERSHIP NFNLGRP_NFTABLES=7
subprocess.run(["nft","-f","-"],input=b"table inet fz { set s { type ipv4_addr; elements = { 198.18.0.1 } }\nchain c { type filter hook forward priority 0; counter; }\n}\n", check=True)
subprocess.run(["nft","delete","element","inet","fz","s","{ 198.18.0.1 }"], check=True)
subprocess.run(["nft","delete","table","inet","fz"], check=True)
time.sleep(0.2)
m.setblocking(False)
i=0
try:
    while True:
        d=m.recv(65536); open("monitor-%02d.bin"%i,"wb").write(d); i+=1
except BlockingIOError: pass
# 3. ctnetlink update of a missing conntrack, with extended ACK and capped ACK
a=socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
a.bind((0,0)); a.setsockopt(SOL_NETLINK, 11, 1); a.setsockopt(SOL_NETLINK, 10, 1)
ip=attr(1|0x8000, attr(1, socket.inet_aton("198.18.0.1")) + attr(2, socket.inet_aton("198.18.0.2")))
pr=attr(2|0x8000, attr(1, b"\x11") + attr(2, struct.pack("!H",1000)) + attr(3, struct.pack("!H",2000)))
tup=attr(1|0x8000, ip+pr)
msg=nlmsg((1<<8)|0, 0x5, 7, struct.pack("=BBH",2,0,0) + tup + attr(8, struct.pack("!L",1)))
a.send(msg); open("ack-enoent.bin","wb").write(a.recv(65536))

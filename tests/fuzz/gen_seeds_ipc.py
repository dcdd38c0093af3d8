#!/usr/bin/env python3
"""Write the seed corpora of fuzz_ipc_frame and fuzz_ipc_acl (corpus/<target>/),
named after their content (sha1) as tests/fuzz/gen_seeds.py does; running it
again changes nothing.

    tests/fuzz/gen_seeds_ipc.py
"""
import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# fuzz_ipc_frame: byte 0 (odd: a reply stream; the split seed), then frames
CALL = ('{"method": "io.m2mtoken.Mic", "parameters": {"key": "e2e-1", '
        '"data": "aGVsbG8=", "n": [1, 2.5, true, null, {}]}}\0')
put("fuzz_ipc_frame", "\x00" + CALL)
put("fuzz_ipc_frame", "\x02" + CALL + CALL + CALL[:20])
put("fuzz_ipc_frame", "\x04" + '{"method":"io.m2mtoken.Status"}\0'
    '{"method":1}\0[]\0{"method":"io.m2mtoken.A","x":1}\0')
put("fuzz_ipc_frame", "\x06" + '{"method":"io.m2mtoken.A","parameters":'
    + "[" * 15 + "]" * 15 + "}\0")
put("fuzz_ipc_frame", "\x08" + '{"method":"io.m2mtoken.A","parameters":'
    '{"s":"\\u00e9\\ud83d\\ude00\\u0000"}}\0')
put("fuzz_ipc_frame", b"\x0a" + '{"method":"io.m2mtoken.A","parameters":'
    '{"s":"'.encode() + "é😀".encode() + b'\xc0\xaf"}}\0')
put("fuzz_ipc_frame", "\x01" + '{"parameters":{"mic":"q1w2"}}\0'
    '{"error":"io.m2mtoken.NoSuchKey","parameters":{"reason":"x"}}\0')
put("fuzz_ipc_frame", "\x03" + '{"error":"NoSuchKey"}\0{"error":7}\0')

# fuzz_ipc_acl: INI text with [caller NAME] sections
put("fuzz_ipc_acl",
    "[daemon]\nsocket = /run/m2mtoken/m2mtokend.sock\n\n"
    "[caller gateway]\nuid = 1001\n"
    "methods = io.m2mtoken.Mic, io.m2mtoken.VerifyMic\n"
    "methods = io.m2mtoken.Status\nkeys = e2e-* kpsa-gw?\n\n"
    "[caller status]\nuser = nobody\nmethods = io.m2mtoken.Status\n\n"
    "[caller admins]\ngroup = root\nmethods = *\nkeys = *\n\n"
    "[caller sealers]\ngid = 2000\n"
    "methods = io.m2mtoken.Seal io.m2mtoken.Open\nkeys = conf-[ab]\n")
put("fuzz_ipc_acl", "[caller a]\nuid = 1\nmethods = *\n"
    "keys = a* [!b]?c \\*\n")
put("fuzz_ipc_acl", "[caller a]\nuid = 1\nuser = root\nmethods = Mic\n")
put("fuzz_ipc_acl", "; comment\n# comment\n[caller r.1_-]\ngid = 0\n"
    "methods = io.m2mtoken.Status ; inline\n  io.m2mtoken.Mic\n")

#!/usr/bin/env python3
"""Write the seed corpora of tests/fuzz (corpus/<target>/): small valid
inputs of each target's input format (see the comment at the top of each
fuzz_<target>.c).  fuzz_tpm_blob's seeds come from the target itself
(M2M_FUZZ_WRITE_SEEDS, see fuzz_tpm_blob.c): pass the fuzz build directory
to write them too.

    tests/fuzz/gen_seeds.py [BUILD_DIR]

Files are named after their content (sha1), so running it again changes
nothing; regression inputs of fixed bugs (regress-*) are kept as they are.
"""
import hashlib
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, data, name=None):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = name or "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# fuzz_conf: configuration files -------------------------------------------
HSM = ("[store]\npath = /var/lib/m2mtoken/store.db\n[backend]\ntype = hsm\n"
       "cache_size = 64\n[hsm]\nmodule = /usr/lib/softhsm/libsofthsm2.so\n"
       "token_label = m2m\npin = 1234\n")
put("fuzz_conf", HSM)
put("fuzz_conf", HSM.replace("pin = 1234", "pin = env:M2M_PIN"))
put("fuzz_conf", HSM.replace("pin = 1234", "pin = file:/nonexistent/pin"))
put("fuzz_conf", "\xef\xbb\xbf; comment\n" + HSM +
    "[token]\npin_min = 6 # six\npin_max = 32\nmax_pin_tries = 3\n"
    "[log]\nlevel = debug\n")
put("fuzz_conf", "[store]\npath = s.db\n[backend]\ntype = tpm\n"
    "[tpm]\ntcti = swtpm:host=127.0.0.1,port=2321\n"
    "primary_handle = 0x81000001\nmode = exclusive\n")
put("fuzz_conf", "[store]\npath = s.db\n[backend]\ntype = tpm\n"
    "[tpm]\ntcti = device:/dev/tpmrm0\nmode = shared\n[log]\nlevel = info\n")
put("fuzz_conf", "[store]\npath = s.db\n[bogus]\nkey = 1\n")


# fuzz_attrs: encoded attribute lists ---------------------------------------
def attr(t, v):
    return struct.pack(">III", t & 0xffffffff, t >> 32, len(v)) + v


def ul(v):
    return struct.pack("<Q", v)


CKA_M2M_ROLE = 0x80000000 | 0x4D324D00 | 1
put("fuzz_attrs", b"")
put("fuzz_attrs", attr(0, ul(4)) + attr(0x100, ul(0x10)) + attr(1, b"\1") +
    attr(3, b"kpsa@in.example.com") + attr(CKA_M2M_ROLE, ul(5)))
put("fuzz_attrs", attr(0x161, ul(32)) + attr(0x102, b"") +
    attr(0xffffffffffffffff, b"x" * 40))


# fuzz_hsm_blob: kind byte (bit 0: AES) || blob ----------------------------
def hsm_blob(version, kind, keylen, prehash=False):
    value = 64 if kind == 1 and keylen < 64 else keylen
    wlen = (value + 7) // 8 * 8 + 8
    b = b"M2MH" + bytes([version, kind]) + struct.pack(">H", keylen)
    b += bytes(range(16)) + b"\xa6" * wlen
    if prehash:
        b += b"\x5a" * 72
    return bytes([0 if kind == 1 else 1]) + b


put("fuzz_hsm_blob", hsm_blob(1, 1, 32))
put("fuzz_hsm_blob", hsm_blob(1, 1, 100))
put("fuzz_hsm_blob", hsm_blob(2, 1, 68, True))
put("fuzz_hsm_blob", hsm_blob(1, 2, 16))
put("fuzz_hsm_blob", hsm_blob(1, 2, 32))


# fuzz_p11_mech (see fuzz_p11_mech.c for the layout) ------------------------
M = dict(KM=0, KPSA=1, KUC=2, E2E256=3, E2E512=4, EXPAND=5, TLS=6, HKDF=7,
         GCM=8, HMAC256=9, HMAC256G=10, HMAC512=11, HMAC512G=12, SHA256=13,
         GENKEY=14, AESKEY=15)
K = dict(KE=0, KPSA=1, KPM=2, E2E=3, MSGAUTH=4, MSGCONF=5, GENERIC=6, AES=7)
A = dict(CLASS=0, KEY_TYPE=1, TOKEN=2, LABEL=4, VALUE=6, VALUE_LEN=7,
         SIGN=10, ROLE=17, PEER_ID=18, EXPIRES=20)
DERIVE, ENC, DEC, SIGN, VERIFY, GEN, DIGEST, CREATE, FIND = range(9)


def ptr(data):          # ptr_len: a buffer of data (length < 240)
    return bytes([1, len(data)]) + data


NULLPTR = bytes([0, 0])


def raw(data):          # param form 2: exactly these bytes
    return bytes([2, len(data)]) + data


def struct_param(size, rest):   # param form 3: the structure's bytes, fields
    return bytes([3]) + bytes(size) + rest


def tmpl(*attrs):
    out = bytes([len(attrs)])
    for sel, form, val in attrs:
        out += bytes([sel, form]) + val
    return out


def call(op, key, mech, param, t=b"\0", data=b""):
    return bytes([op, key, mech]) + param + t + data


P = "fuzz_p11_mech"
put(P, call(DERIVE, K["KE"], M["KM"], raw(b"CAE-fuzz-1")))
put(P, call(DERIVE, K["KE"], M["KPSA"], raw(b"C-enrolee.example.com")))
put(P, call(DERIVE, K["KE"], M["KUC"],
            struct_param(24, bytes([22]) + ptr(b"mn-cse.example.com"))))
put(P, call(DERIVE, K["KPSA"], M["E2E256"], bytes([0])))
put(P, call(DERIVE, K["KPSA"], M["E2E512"], raw(bytes(range(32))),
            tmpl((A["LABEL"], 2, ptr(b"e2e@x.example.com")))))
put(P, call(DERIVE, K["E2E"], M["EXPAND"], raw(b"\2")))
put(P, call(DERIVE, K["KPSA"], M["TLS"],
            struct_param(64, bytes([0, 0, 0]) + ptr(bytes(32)) +
                         ptr(bytes(range(32))) + NULLPTR)))
put(P, call(DERIVE, K["KPM"], M["TLS"],
            struct_param(64, bytes([1, 0, 1]) + NULLPTR + NULLPTR +
                         ptr(bytes(range(48))))))
put(P, call(DERIVE, K["GENERIC"], M["HKDF"],
            struct_param(64, bytes([0x23]) + ptr(b"salt" * 4) + b"\0" +
                         ptr(b"info-fuzz")),
            tmpl((A["VALUE_LEN"], 0, ul(42)))))
put(P, call(DERIVE, K["GENERIC"], M["HKDF"],
            struct_param(64, bytes([0x06]) + NULLPTR + b"\0" + NULLPTR),
            tmpl((A["VALUE_LEN"], 0, ul(32)))))
put(P, call(ENC, K["AES"], M["GCM"],
            struct_param(48, ptr(bytes(12)) + bytes([96]) + ptr(b"aad") +
                         bytes([128])), data=b"hello gcm"))
put(P, call(DEC, K["MSGCONF"], M["GCM"],
            struct_param(48, ptr(bytes(12)) + bytes([96]) + NULLPTR +
                         bytes([96])), data=bytes(40)))
put(P, call(SIGN, K["GENERIC"], M["HMAC256"], bytes([0]), data=b"msg"))
put(P, call(SIGN, K["MSGAUTH"], M["HMAC256G"],
            struct_param(8, bytes([16, 0])), data=b"msg"))
put(P, call(VERIFY, K["GENERIC"], M["HMAC512G"],
            struct_param(8, bytes([32, 0])), data=bytes(64)))
put(P, call(GEN, 0, M["GENKEY"], bytes([0]),
            tmpl((A["VALUE_LEN"], 0, ul(32)), (A["SIGN"], 1, b"\1"))))
put(P, call(GEN, 0, M["AESKEY"], bytes([0]),
            tmpl((A["VALUE_LEN"], 0, ul(16)), (A["TOKEN"], 1, b"\1"))))
put(P, call(DIGEST, 0, M["SHA256"], bytes([0]), data=b"abc"))
put(P, call(CREATE, 0, 0, bytes([0]),
            tmpl((A["CLASS"], 0, ul(4)), (A["KEY_TYPE"], 0, ul(0x10)),
                 (A["VALUE"], 2, ptr(bytes(range(32)))),
                 (A["ROLE"], 0, ul(5)),
                 (A["LABEL"], 2, ptr(b"kpsa-new@in.example.com")),
                 (A["PEER_ID"], 2, ptr(b"C-peer.example.com")),
                 (A["EXPIRES"], 2, ptr(b"20301231T235959,123456")))))
put(P, call(FIND, 0, 0, bytes([0]),
            tmpl((A["CLASS"], 0, ul(4)), (A["ROLE"], 0, ul(5)),
                 (A["EXPIRES"], 2, ptr(b"20301231T235959")))))


# fuzz_tls_prov (see fuzz_tls_prov.c for the layout) ------------------------
DIGEST_P, SECRET_P, SEED_P = 0, 1, 2
SHA256, SHA384 = 0, 2       # indices in mds[]
EMS, MS = 0, 1              # seed label bit


def ref_secret(which):      # secret_of: genuine refs[which], unchanged
    form = {0: 3, 1: 1, 2: 2}[which]
    return bytes([SECRET_P, 0, form, 0, 0])


def seed(label, data):
    return bytes([SEED_P, label, len(data)]) + data


T = "fuzz_tls_prov"
for which in range(3):
    put(T, bytes([48, 0, 3, DIGEST_P, SHA256]) + ref_secret(which) +
        seed(EMS, bytes(range(32))))
put(T, bytes([48, 0, 3, DIGEST_P, SHA384]) + ref_secret(1) +
    seed(MS, bytes(range(64))))
put(T, bytes([48, 2, DIGEST_P, SHA256]) + ref_secret(0) +
    bytes([1]) + seed(EMS, bytes(48)))
put(T, bytes([48, 0, 3, DIGEST_P, SHA256, SECRET_P, 0, 0, 20]) + bytes(20) +
    seed(MS, bytes(64)))

# fuzz_tls_psk_id: identities (labels of p11env.c's keys) ----------------
for label in ["kpsa-fuzz@in.example.com", "kpm-fuzz@mef.example.com",
              "generic-fuzz", "ke-fuzz@m2m.example.com"]:
    put("fuzz_tls_psk_id", label)

if len(sys.argv) > 1:
    env = dict(os.environ,
               M2M_FUZZ_WRITE_SEEDS=os.path.join(HERE, "corpus",
                                                 "fuzz_tpm_blob"))
    subprocess.run([os.path.join(sys.argv[1], "tests", "fuzz",
                                 "fuzz_tpm_blob"), "-runs=0"],
                   env=env, check=True)

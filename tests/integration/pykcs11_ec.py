#!/usr/bin/env python3
"""PyKCS11 (1.5.12) against the module with EC keys; run by test_pykcs11_ec.sh.

    pykcs11_ec.py MODULE TOKEN_LABEL USER_PIN WORKDIR

On token TOKEN_LABEL (initialised, user PIN set), as the user:
  - generates a P-256 and a P-384 key pair (CKM_EC_KEY_PAIR_GEN) and checks
    the attributes PKCS#11 clients read: CKA_KEY_TYPE, CKA_EC_PARAMS on both
    halves, CKA_EC_POINT (a DER OCTET STRING holding 04||X||Y), a private
    half that is sensitive, never extractable and whose CKA_VALUE is refused
    with CKR_ATTRIBUTE_SENSITIVE;
  - signs with CKM_ECDSA_SHA256 (P-256), CKM_ECDSA_SHA384 (P-384) and
    CKM_ECDSA (over a SHA-256 digest, both curves); each r||s signature is
    DER-encoded and checked with python3-cryptography (OpenSSL), and a
    signature over other data must not verify;
  - C_Verify accepts the token's own signature and refuses a changed one
    with CKR_SIGNATURE_INVALID, a one byte shorter one with
    CKR_SIGNATURE_LEN_RANGE;
  - imports the public key of an OpenSSL-made key (WORKDIR/ossl-pub.pem) as
    a session object and C_Verify (CKM_ECDSA_SHA256) accepts the signature
    OpenSSL made over WORKDIR/data (WORKDIR/ossl-sig.der), and refuses it
    over other data with CKR_SIGNATURE_INVALID;
  - writes the P-256 public key and the CKM_ECDSA_SHA256 signature over
    WORKDIR/data to WORKDIR/token-pub.pem and WORKDIR/token-sig.der, for
    "openssl dgst -verify" in the shell.
Prints one "ok: ..." line per check; any failure raises (exit status 1).
"""

import hashlib
import os
import sys

import PyKCS11
from PyKCS11 import (CKA_CLASS, CKA_EC_PARAMS, CKA_EC_POINT, CKA_EXTRACTABLE,
                     CKA_ID, CKA_KEY_TYPE, CKA_LABEL, CKA_NEVER_EXTRACTABLE,
                     CKA_ALWAYS_SENSITIVE, CKA_PRIVATE, CKA_SENSITIVE,
                     CKA_SIGN, CKA_TOKEN, CKA_VALUE, CKA_VERIFY, CKK_EC,
                     CKO_PRIVATE_KEY, CKO_PUBLIC_KEY)
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

# DER OBJECT IDENTIFIERs of the curves (CKA_EC_PARAMS, namedCurve)
OID = {
    "P-256": bytes.fromhex("06082a8648ce3d030107"),
    "P-384": bytes.fromhex("06052b81040022"),
}
CURVE = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}
SIZE = {"P-256": 32, "P-384": 48}


def ok(what):
    print("ok: " + what, flush=True)


def fail(what):
    raise SystemExit("FAIL: " + what)


def ckr(err):
    """The CKR_ value of a PyKCS11Error."""
    return err.value


def expect_ckr(what, want, fn, *args):
    try:
        fn(*args)
    except PyKCS11.PyKCS11Error as e:
        if ckr(e) != want:
            fail("%s: %s, expected %s" % (what, e,
                 PyKCS11.CKR[want]))
        return
    fail("%s succeeded, expected %s" % (what, PyKCS11.CKR[want]))


def der_octet_string(b):
    """DER OCTET STRING of b (short or one/two-byte long length)."""
    n = len(b)
    if n < 0x80:
        return bytes([0x04, n]) + b
    if n < 0x100:
        return bytes([0x04, 0x81, n]) + b
    return bytes([0x04, 0x82, n >> 8, n & 0xff]) + b


def ec_point(der):
    """04||X||Y from a CKA_EC_POINT (DER OCTET STRING, short form)."""
    if len(der) < 2 or der[0] != 0x04 or der[1] != len(der) - 2:
        fail("CKA_EC_POINT is not a DER OCTET STRING: " + der.hex())
    return der[2:]


def rs_to_der(sig, size):
    if len(sig) != 2 * size:
        fail("signature of %d bytes, expected r||s of %d" %
             (len(sig), 2 * size))
    r = int.from_bytes(sig[:size], "big")
    s = int.from_bytes(sig[size:], "big")
    return utils.encode_dss_signature(r, s)


def der_to_rs(der, size):
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def get_value_rv(session, obj):
    """C_GetAttributeValue(CKA_VALUE)'s own return value (PyKCS11's
    getAttributeValue turns CKR_ATTRIBUTE_SENSITIVE into a None)."""
    tmpl = PyKCS11.LowLevel.ckattrlist(1)
    tmpl[0].SetType(CKA_VALUE)
    return session.lib.C_GetAttributeValue(session.session, obj, tmpl)


def attr(session, obj, a):
    return bytes(session.getAttributeValue(obj, [a], allAsBinary=True)[0])


def attr_bool(session, obj, a):
    return bool(session.getAttributeValue(obj, [a])[0])


def main():
    if len(sys.argv) != 5:
        raise SystemExit("usage: pykcs11_ec.py MODULE LABEL PIN WORKDIR")
    module, label, pin, work = sys.argv[1:]
    data = open(os.path.join(work, "data"), "rb").read()

    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = None
    for s in lib.getSlotList(tokenPresent=True):
        if lib.getTokenInfo(s).label.strip() == label:
            slot = s
    if slot is None:
        fail("no token labelled " + label)
    session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION |
                              PyKCS11.CKF_RW_SESSION)
    session.login(pin)

    keys = {}
    for i, curve in enumerate(("P-256", "P-384")):
        pub_t = [(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_EC),
                 (CKA_TOKEN, True), (CKA_VERIFY, True),
                 (CKA_EC_PARAMS, OID[curve]), (CKA_LABEL, "py-" + curve),
                 (CKA_ID, (0x70, i + 1))]
        priv_t = [(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_KEY_TYPE, CKK_EC),
                  (CKA_TOKEN, True), (CKA_PRIVATE, True),
                  (CKA_SENSITIVE, True), (CKA_EXTRACTABLE, False),
                  (CKA_SIGN, True), (CKA_LABEL, "py-" + curve),
                  (CKA_ID, (0x70, i + 1))]
        pub, priv = session.generateKeyPair(
            pub_t, priv_t, mecha=PyKCS11.MechanismECGENERATEKEYPAIR)
        for name, obj in (("public", pub), ("private", priv)):
            if session.getAttributeValue(obj, [CKA_KEY_TYPE])[0] != CKK_EC:
                fail("%s %s: CKA_KEY_TYPE is not CKK_EC" % (curve, name))
            if attr(session, obj, CKA_EC_PARAMS) != OID[curve]:
                fail("%s %s: CKA_EC_PARAMS is not the curve's OID" %
                     (curve, name))
        point = ec_point(attr(session, pub, CKA_EC_POINT))
        if len(point) != 1 + 2 * SIZE[curve] or point[0] != 0x04:
            fail("%s: CKA_EC_POINT holds no uncompressed point" % curve)
        key = ec.EllipticCurvePublicKey.from_encoded_point(CURVE[curve],
                                                           point)
        for a, want in ((CKA_SENSITIVE, True), (CKA_ALWAYS_SENSITIVE, True),
                        (CKA_EXTRACTABLE, False),
                        (CKA_NEVER_EXTRACTABLE, True)):
            if attr_bool(session, priv, a) != want:
                fail("%s private key: %s is not %s" %
                     (curve, PyKCS11.CKA[a], want))
        rv = get_value_rv(session, priv)
        if rv != PyKCS11.CKR_ATTRIBUTE_SENSITIVE:
            fail("%s private key: C_GetAttributeValue(CKA_VALUE) gives %s, "
                 "expected CKR_ATTRIBUTE_SENSITIVE" %
                 (curve, PyKCS11.CKR.get(rv, hex(rv))))
        keys[curve] = (pub, priv, key)
        ok("%s key pair: CKA_EC_PARAMS, CKA_EC_POINT (a point on the "
           "curve), sensitive, never extractable, CKA_VALUE refused" % curve)

    # token signatures checked with OpenSSL (python3-cryptography)
    cases = (("P-256", PyKCS11.CKM_ECDSA_SHA256, hashes.SHA256(), False),
             ("P-384", PyKCS11.CKM_ECDSA_SHA384, hashes.SHA384(), False),
             ("P-256", PyKCS11.CKM_ECDSA, hashes.SHA256(), True),
             ("P-384", PyKCS11.CKM_ECDSA, hashes.SHA256(), True))
    for curve, mech, h, raw in cases:
        pub, priv, key = keys[curve]
        m = PyKCS11.Mechanism(mech, None)
        msg = hashlib.new(h.name, data).digest() if raw else data
        sig = bytes(session.sign(priv, msg, m))
        der = rs_to_der(sig, SIZE[curve])
        alg = ec.ECDSA(utils.Prehashed(h)) if raw else ec.ECDSA(h)
        key.verify(der, msg, alg)
        try:
            key.verify(der, msg + b"x" if not raw else
                       hashlib.new(h.name, data + b"x").digest(), alg)
            fail("%s %s: a signature verifies over other data" %
                 (curve, PyKCS11.CKM[mech]))
        except InvalidSignature:
            pass
        if not session.verify(pub, msg, sig, m):
            fail("%s %s: C_Verify refuses the token's signature" %
                 (curve, PyKCS11.CKM[mech]))
        bad = bytearray(sig)
        bad[-1] ^= 1
        if session.verify(pub, msg, bytes(bad), m):
            fail("%s %s: C_Verify accepts a changed signature" %
                 (curve, PyKCS11.CKM[mech]))
        expect_ckr("%s %s: C_Verify of a short signature" %
                   (curve, PyKCS11.CKM[mech]), PyKCS11.CKR_SIGNATURE_LEN_RANGE,
                   session.verify, pub, msg, sig[:-1], m)
        ok("%s %s: r||s of %d bytes, verified by OpenSSL, C_Verify "
           "accepts it, refuses a changed one (CKR_SIGNATURE_INVALID) and "
           "a short one (CKR_SIGNATURE_LEN_RANGE)"
           % (curve, PyKCS11.CKM[mech], len(sig)))
        if curve == "P-256" and not raw:
            with open(os.path.join(work, "token-sig.der"), "wb") as f:
                f.write(der)
            with open(os.path.join(work, "token-pub.pem"), "wb") as f:
                f.write(key.public_bytes(
                    serialization.Encoding.PEM,
                    serialization.PublicFormat.SubjectPublicKeyInfo))

    # an OpenSSL-made signature verified by the token (C_Verify)
    opub = serialization.load_pem_public_key(
        open(os.path.join(work, "ossl-pub.pem"), "rb").read())
    point = opub.public_bytes(serialization.Encoding.X962,
                              serialization.PublicFormat.UncompressedPoint)
    imported = session.createObject([
        (CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_EC),
        (CKA_TOKEN, False), (CKA_VERIFY, True),
        (CKA_EC_PARAMS, OID["P-256"]),
        (CKA_EC_POINT, der_octet_string(point)),
        (CKA_LABEL, "openssl-pub")])
    osig = der_to_rs(open(os.path.join(work, "ossl-sig.der"), "rb").read(),
                     32)
    m = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256, None)
    if not session.verify(imported, data, osig, m):
        fail("C_Verify refuses OpenSSL's signature")
    if session.verify(imported, data + b"x", osig, m):
        fail("C_Verify accepts OpenSSL's signature over other data")
    ok("an imported public key: C_Verify accepts OpenSSL's ECDSA-SHA256 "
       "signature and refuses it over other data")

    session.logout()
    session.closeSession()


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# m2m-label: tool
# Smoke test: an independent PKCS#11 client (OpenSC pkcs11-tool) loads the
# module and lists its slots.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

m2m_setup "${1:?usage: test_smoke.sh hsm|tpm}"

out=$(m2m_p11tool --list-slots 2>&1) ||
    m2m_fail "pkcs11-tool --list-slots failed: $out"
m2m_expect_contains "$out" "Slot 0"
echo "ok: $M2M_BACKEND: pkcs11-tool lists a slot"

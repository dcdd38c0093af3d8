#!/usr/bin/env bash
# m2m-label: daemon mef
# The whole provisioning story with the real m2m-mef (registered only when
# daemon/mef/ is in the tree): a device m2mtokend bootstraps with the MEF,
# a gateway m2mtokend fetches the Kpsa for that KeId as an enrolment
# target, both provision the E2E set with the salt the MEF gave, and a MIC
# and a sealed message made on one side verify and open on the other.
#   bash test_m2mtokend_mef.sh hsm
. "$(dirname "${BASH_SOURCE[0]}")/../../../tests/integration/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/mtd_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../../../tests/mef/mef_lib.sh"
m2m_setup "${1:?usage: test_m2mtokend_mef.sh hsm}"
T=$M2M_TMP
KPM=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
PSKGW=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf
GW=gw1.example.com
mef_token
mef_conf 5
printf '%s\n' "$KPM" >"$T/kpm.hex"
mef enrolee add --kpm-id kpm-dev1 --enrolee-id /in-cse.example.com/CAE01 \
    --target "$GW" --lifetime 3600 --kpm-file "$T/kpm.hex" --e2e-salt-hex 0102030405060708 || m2m_fail "enrolee add"
mef_target "$GW" "$PSKGW"
mef_start
echo "ok: m2m-mef on 127.0.0.1:$PORT, enrolee kpm-dev1, target $GW"

mtd_token dev
mtd_token gw
"$MTD_KEYTOOL" import dev kpm kpm-dev1 "$KPM" || m2m_fail "import kpm"
"$MTD_KEYTOOL" import gw kpm "$GW" "$PSKGW" || m2m_fail "import gw psk"
mtd_mef_daemon dev "$(printf '[enrolee]\nkpm_id = kpm-dev1')"
mtd_mef_daemon gw "$(printf '[target]\nid = %s' "$GW")"
C=$M2MTOKEN_CLI
out=$($C -s $T/dev.sock --json bootstrap --target "$GW") || { cat "$T/mef.log"; m2m_fail "bootstrap: $out"; }
echo "ok: device bootstrap: $out"
KEID=$(mtd_json keId <<<"$out")
SALT=$(mtd_json e2e.salt <<<"$out")
out=$($C -s $T/gw.sock --json fetch-credentials --key "$KEID") || { tail "$T/mef.log"; m2m_fail "fetch: $out"; }
[ "$(mtd_json source <<<"$out")" = mef ] || m2m_fail "fetch: $out"
echo "ok: gateway fetch-credentials: $out"
$C -s $T/dev.sock derive-kpsa --key "$KEID" --target "$GW" >/dev/null ||
    m2m_fail "device derive-kpsa"
E1=$($C -s $T/dev.sock --json provision-e2e --key "$KEID" --role kpsa --salt "$SALT" | mtd_json e2eKeyId)
E2=$($C -s $T/gw.sock --json provision-e2e --key "$KEID" --role kpsa --salt "$SALT" | mtd_json e2eKeyId)
[ -n "$E1" ] && [ "$E1" = "$E2" ] || m2m_fail "E2EKeyIds: device $E1, gateway $E2"
echo "ok: the same E2E set on both sides: $E1"
mic=$($C -s $T/dev.sock mic --key "$E1" --data "hello gateway")
$C -s $T/gw.sock verify-mic --key "$E2" --data "hello gateway" --mic "$mic" >/dev/null ||
    m2m_fail "the device's MIC does not verify on the gateway"
set +e
$C -s $T/gw.sock verify-mic --key "$E2" --data "hello gatewaY" --mic "$mic" 2>/dev/null
rc=$?
set -e
[ "$rc" = 5 ] || m2m_fail "a forged message verified on the gateway ($rc)"
out=$($C -s $T/dev.sock seal --key "$E1" --data "secret")
iv=$(sed -n 's/^iv: *//p' <<<"$out"); ct=$(sed -n 's/^ciphertext: *//p' <<<"$out")
pt=$($C -s $T/gw.sock open --key "$E2" --iv "$iv" --ciphertext "$ct")
[ "$pt" = secret ] || m2m_fail "the device's sealed message did not open on the gateway"
echo "ok: hsm: device and gateway m2mtokend with m2m-mef: bootstrap, fetch, E2E MIC and seal/open across"

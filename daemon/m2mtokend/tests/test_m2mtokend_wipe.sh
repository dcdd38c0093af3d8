#!/usr/bin/env bash
# m2m-label: daemon
# E2E plaintexts in the flow IPC are wiped (docs/security-model.md): after
# Seal and Open of a random marker through the real daemon (the m2mtoken
# CLI, a short plaintext and one of several KiB), the idle daemon's
# writable memory (/proc/PID/maps and /proc/PID/mem: root, or the
# daemon's own uid without Yama) holds neither the marker nor its base64
# form; mtd_wipescan does the same through libm2mtoken-client and reads
# its own memory afterwards.
. "$(dirname "${BASH_SOURCE[0]}")/../../../tests/integration/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/mtd_lib.sh"

m2m_setup "${1:?usage: test_m2mtokend_wipe.sh hsm|tpm}"
MTD_WIPESCAN=${MTD_WIPESCAN:-$M2M_BUILD/daemon/m2mtokend/tests/mtd_wipescan}

KE=101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f
KEID=000102030405060708090a0b0c0d0e0f@mef.example.com
TARGET=/in-cse.example.com/CAE01

mtd_token mtd
"$MTD_KEYTOOL" import mtd ke "$KEID" "$KE" || m2m_fail "import of Ke"
mtd_conf "$M2M_TMP/mtd.conf" mtd <<CONF
[caller root]
uid = $(id -u)
methods = *
keys = *
CONF
mtd_start "$M2M_TMP/mtd.conf"
mtd_cli derive-kpsa --key "$KEID" --target "$TARGET" >/dev/null ||
    m2m_fail "derive-kpsa"
E2E=$(mtd_cli --json provision-e2e --key "$KEID" --role kpsa | mtd_json e2eKeyId)

# hex digits, 48 of them: a multiple of 3, so that the base64 of a run of
# markers is a run of the marker's base64
MARK=$(openssl rand -hex 24)
for i in $(seq 200); do printf '%s' "$MARK"; done >"$M2M_TMP/long"
for src in "--data $MARK" "--data-file $M2M_TMP/long"; do
	# shellcheck disable=SC2086
	out=$(mtd_cli seal --key "$E2E" $src) || m2m_fail "seal: $out"
	iv=$(sed -n 's/^iv: *//p' <<<"$out")
	ct=$(sed -n 's/^ciphertext: *//p' <<<"$out")
	mtd_cli open --key "$E2E" --iv "$iv" --ciphertext "$ct" \
	    >"$M2M_TMP/back" || m2m_fail "open"
	case $src in
	--data-file*) cmp -s "$M2M_TMP/back" "$M2M_TMP/long" ||
	    m2m_fail "open: not the plaintext" ;;
	*) [ "$(cat "$M2M_TMP/back")" = "$MARK" ] ||
	    m2m_fail "open: not the plaintext" ;;
	esac
done
rm -f "$M2M_TMP/back" "$M2M_TMP/long"

# daemon_copies: copies of the marker and its base64 in the daemon's
# writable memory, once it has closed the CLI's connections (idle)
daemon_copies()
{
	python3 - "$MTD_PID" "$MARK" <<'PY'
import base64, sys, time
pid, mark = sys.argv[1], sys.argv[2].encode()
needles = (mark, base64.b64encode(mark)[:40])
time.sleep(0.2)
hits = 0
with open(f"/proc/{pid}/maps") as maps, \
        open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        f = line.split()
        if not f[1].startswith("rw") or f[-1] == "[vvar]":
            continue
        a, b = (int(x, 16) for x in f[0].split("-"))
        # ASan's shadow: terabytes reserved, no heap of the daemon's
        if b - a > 1 << 30:
            continue
        # in chunks that overlap by a needle, not the region whole
        step, over = 16 << 20, max(len(n) for n in needles)
        for off in range(a, b, step):
            try:
                mem.seek(off)
                d = mem.read(min(step + over, b - off))
            except OSError:
                break
            hits += sum(d[:step + len(n) - 1].count(n) for n in needles)
print(hits)
PY
}
n=$(daemon_copies)
[ "$n" = 0 ] || m2m_fail "m2mtokend holds $n copies of the plaintext (or its base64) after Seal and Open returned"
echo "ok: m2mtokend after Seal+Open (CLI, 48 and 9600 bytes): no copy of the plaintext or its base64"

"$MTD_WIPESCAN" "$MTD_SOCK" "$E2E" || m2m_fail "mtd_wipescan"
mtd_finish

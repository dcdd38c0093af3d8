#!/usr/bin/env bash
# The systemd units of m2mtokend pass `systemd-analyze verify` (no systemd
# as PID 1 needed), and hold the sandbox and rights docs/operations.md
# promises; a broken copy fails, so the check can fail.
# Usage: test_units.sh SRCDIR M2MTOKEND
set -euo pipefail
src=${1:?usage: test_units.sh SRCDIR M2MTOKEND}/daemon/m2mtokend
bin=${2:?}
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed (package systemd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$src"/m2mtokend.service "$src"/m2mtokend.socket "$src"/m2mtokend-pkcs11.socket "$tmp"/
sed -i "s|/usr/local/sbin/m2mtokend|$bin|" "$tmp/m2mtokend.service"
verify()
{
	(cd "$tmp" && SYSTEMD_LOG_LEVEL=warning timeout 60 systemd-analyze verify \
	    ./m2mtokend.socket ./m2mtokend-pkcs11.socket ./m2mtokend.service 2>&1)
}
out=$(verify) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
echo "ok: systemd-analyze verify: the three units are clean"

svc=$tmp/m2mtokend.service
for line in User=m2mtoken Group=m2mtoken ProtectSystem=strict ProtectHome=yes \
    PrivateTmp=yes NoNewPrivileges=yes 'CapabilityBoundingSet=' \
    RuntimeDirectory=m2mtoken RuntimeDirectoryMode=0755 \
    StateDirectory=m2mtoken StateDirectoryMode=0700 \
    'LoadCredential=pin:/etc/m2mtoken/m2mtokend.pin' \
    'DeviceAllow=/dev/tpmrm0 rw' ProtectProc=invisible UMask=0077 \
    'Sockets=m2mtokend.socket m2mtokend-pkcs11.socket'; do
	grep -qx "$line" "$svc" || fail "m2mtokend.service lacks $line"
done
for line in FileDescriptorName=pkcs11 SocketMode=0660 SocketGroup=m2mtoken-clients \
    ListenStream=/run/m2mtoken/pkcs11.sock Service=m2mtokend.service; do
	grep -qx "$line" "$tmp/m2mtokend-pkcs11.socket" || fail "m2mtokend-pkcs11.socket lacks $line"
done
grep -qx FileDescriptorName=flow "$tmp/m2mtokend.socket" || fail "m2mtokend.socket: no FileDescriptorName=flow"
echo "ok: the sandbox, the user, the directories, the credential and both sockets are there"

# the check can fail: an unknown key is reported
sed -i 's/^ProtectSystem=strict$/ProtectSystem=stricter/' "$svc"
if out=$(verify) && [ -z "$out" ]; then
	fail "verify accepted ProtectSystem=stricter"
fi
echo "ok: a broken unit is caught: $(head -1 <<<"$out")"

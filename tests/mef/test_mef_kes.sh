#!/usr/bin/env bash
# m2m-label: mef
# [bootstrap] kes_per_enrolee: the KeIds one enrolee may hold.  An enrolee
# with its Kpm may bootstrap as often as it connects; each bootstrap adds a
# KeId row and a Ke object, so without a cap one enrolee fills the registry
# and the token (and with a token quota, refuses every enrolee's
# bootstrap).  Here: 20 bootstraps of one enrolee leave its 2 newest KeIds
# (rows and Ke objects), both fetchable, the superseded ones answered as
# unknown (404), another enrolee's KeId untouched; kill -9 between the
# commit that supersedes a KeId and the destroy of its Ke (gdb stops the
# MEF there) leaves a Ke without a row, which the next start destroys;
# the cap lowered to 1 trims at the next bootstrap; bad values refused.
#   bash test_mef_kes.sh hsm
. "$M2M_SRC/tests/integration/lib.sh"
. "$M2M_SRC/tests/mef/mef_lib.sh"

m2m_setup "${1:?usage: test_mef_kes.sh hsm}"

T=$M2M_TMP

# req ID PSK FILE: send FILE over TLS-PSK; the whole s_client output.
req()
{
	timeout 20 openssl s_client -tls1_2 -connect "127.0.0.1:$PORT" \
	    -servername "$FQDN" -psk_identity "$1" -psk "$2" -ign_eof \
	    -nocommands <"$3" 2>&1 || true
}

# boot ID PSK: one bootstrap; its KeId on stdout.
boot()
{
	local out k

	out=$(req "$1" "$2" "$T/boot")
	k=$(body_of "$out" | jq -r .KeId 2>/dev/null) || k=
	[ "$(status_of "$out")" = 200 ] && [[ $k == *@"$FQDN" ]] || {
		printf '%s\n' "$out" >&2; m2m_fail "bootstrap of $1"; }
	printf '%s\n' "$k"
}

# fetch KEID: the whole s_client output of GW1's fetchCredentials.
fetch()
{
	printf 'GET /fetchCredentials/%s HTTP/1.1\r\nHost: %s\r\nX-M2M-Origin: %s\r\nConnection: close\r\n\r\n' \
	    "$1" "$FQDN" "$GW1" >"$T/fetch"
	req "$GW1" "$PSK_GW1" "$T/fetch"
}

fetched()
{
	local out

	out=$(fetch "$1")
	[ "$(status_of "$out")" = 200 ] && [ "$(rsc_of "$out")" = 2000 ] || {
		printf '%s\n' "$out" >&2; m2m_fail "$2: fetch of $1"; }
}

# rows KPMID: its KeId rows; ke_objects: the Ke objects in the token.
rows()
{
	sqlite3 "$T/registry.db" "SELECT count(*) FROM kes WHERE kpm_id = '$1'"
}
has_ke()
{
	m2m_ext m2m_p11tool --token-label mef --login --pin "$MEF_PIN" \
	    --list-objects --type secrkey 2>/dev/null |
	    grep -q -x "[[:space:]]*label:[[:space:]]*$1"
}

mef_token
mef_conf 5
printf '%s\n' "$KPM1" >"$T/kpm1.hex"
printf '%s\n' "$KPM2" >"$T/kpm2.hex"
chmod 600 "$T"/kpm*.hex
for i in 1 2; do
	mef enrolee add --kpm-id kpm-dev$i --enrolee-id /in-cse.example.com/C$i \
	    --target "$GW1" --lifetime 3600 --kpm-file "$T/kpm$i.hex" \
	    >/dev/null || m2m_fail "enrolee add kpm-dev$i"
done
mef_target "$GW1" "$PSK_GW1"
post_file "$T/boot" "{\"Targets\": [\"$GW1\"]}"

# --- 20 bootstraps of one enrolee: its 2 newest KeIds stay (the default) ---
mef_start
OTHER=$(boot kpm-dev2 "$KPM2")
KEIDS=()
for ((i = 0; i < 20; i++)); do
	KEIDS+=("$(boot kpm-dev1 "$KPM1")")
done
[ "$(rows kpm-dev1)" -eq 2 ] ||
    m2m_fail "$(rows kpm-dev1) KeId rows of kpm-dev1 after 20 bootstraps (kes_per_enrolee = 2)"
[ "$(mef_ke_objects)" -eq 3 ] ||
    m2m_fail "$(mef_ke_objects) Ke objects in the token, not 3 (2 of kpm-dev1, 1 of kpm-dev2)"
for k in "${KEIDS[18]}" "${KEIDS[19]}"; do
	[ "$(sqlite3 "$T/registry.db" "SELECT count(*) FROM kes WHERE ke_id = '$k'")" -eq 1 ] &&
	    has_ke "$k" || m2m_fail "the newest KeId $k: no row or no Ke"
	fetched "$k" "a kept KeId"
done
for k in "${KEIDS[0]}" "${KEIDS[17]}"; do
	! has_ke "$k" || m2m_fail "the superseded Ke $k stays in the token"
	expect "$(fetch "$k")" 404 4004 "unknown KeId"
done
[ "$(rows kpm-dev2)" -eq 1 ] && has_ke "$OTHER" ||
    m2m_fail "another enrolee's KeId was touched"
fetched "$OTHER" "another enrolee's KeId"
[ "$(grep -c 'event=bootstrap who="kpm-dev1".*outcome=ok.*superseded="1"' \
    "$T/mef.log")" -eq 18 ] || m2m_fail "not 18 bootstraps logged superseded=\"1\""
ok "20 bootstraps of kpm-dev1: its 2 newest KeIds kept and fetchable, 18 superseded (rows and Ke gone, fetch 404 unknown KeId), kpm-dev2's KeId untouched"

# --- kill -9 after the commit, before the superseded Ke is destroyed --------
# gdb runs the MEF and kills it (SIGKILL) at its first mef_tok_destroy: the
# registry transaction that superseded the oldest KeId has committed.
command -v gdb >/dev/null || m2m_fail "gdb not found (scripts/deps.txt)"
mef_stop
cat >"$T/gdb.cmd" <<GDB
set breakpoint pending on
break mef_tok_destroy
commands
kill
quit
end
run
GDB
: >"$T/mef.out"
# (LeakSanitizer of an ASan build cannot run under ptrace: off for this run)
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
    timeout 120 gdb -nx -batch -x "$T/gdb.cmd" --args "$MEF" \
    -c "$T/mef.conf" >"$T/mef.out" 2>>"$T/mef.log" </dev/null &
GDB_PID=$!
gdb_stop() { kill "$GDB_PID" 2>/dev/null || true; }
m2m_defer gdb_stop
for ((i = 0; i < 100; i++)); do
	PORT=$(sed -n 's/^listening 127.0.0.1 //p' "$T/mef.out")
	[ -n "$PORT" ] && break
	sleep 0.1
done
[ -n "$PORT" ] || m2m_fail "m2m-mef under gdb did not start: $(cat "$T/mef.out")"
OLDEST=$(sqlite3 "$T/registry.db" \
    "SELECT ke_id FROM kes WHERE kpm_id = 'kpm-dev1' ORDER BY rowid LIMIT 1")
out=$(req kpm-dev1 "$KPM1" "$T/boot")
wait "$GDB_PID" || true
[ -z "$(status_of "$out")" ] || m2m_fail "an answer from a killed MEF: $out"
[ "$(rows kpm-dev1)" -eq 2 ] &&
    [ "$(sqlite3 "$T/registry.db" "SELECT count(*) FROM kes WHERE ke_id = '$OLDEST'")" -eq 0 ] ||
    m2m_fail "the superseding transaction did not commit before the kill"
has_ke "$OLDEST" && [ "$(mef_ke_objects)" -eq 4 ] ||
    m2m_fail "the kill did not come between the commit and the destroy"
n=$(wc -l <"$T/mef.log")
mef_start
mef_log_since "$n" "start: destroyed Ke $OLDEST, which no registry row names" ||
    m2m_fail "the superseded Ke left by the kill was not destroyed at start"
[ "$(mef_ke_objects)" -eq 3 ] && ! has_ke "$OLDEST" ||
    m2m_fail "$(mef_ke_objects) Ke objects after the restart, not 3"
for k in $(sqlite3 "$T/registry.db" "SELECT ke_id FROM kes"); do
	fetched "$k" "after kill -9 and a restart"
done
expect "$(fetch "$OLDEST")" 404 4004 "unknown KeId"
ok "kill -9 between the commit and the destroy: the Ke without a row destroyed at the next start, every row's KeId fetchable"

# --- the cap lowered to 1: the next bootstrap trims ---------------------------
mef_stop
printf '[bootstrap]\nkes_per_enrolee = 1\n' >>"$T/mef.conf"
mef_start
K=$(boot kpm-dev1 "$KPM1")
[ "$(rows kpm-dev1)" -eq 1 ] && [ "$(mef_ke_objects)" -eq 2 ] ||
    m2m_fail "kes_per_enrolee = 1: $(rows kpm-dev1) rows, $(mef_ke_objects) Ke objects"
fetched "$K" "kes_per_enrolee = 1"
fetched "$OTHER" "kes_per_enrolee = 1, another enrolee"
mef_stop
ok "kes_per_enrolee lowered to 1: the next bootstrap leaves 1 KeId (2 superseded), the other enrolee's kept"

# --- bad values: refused at start, named ------------------------------------
for v in 0 1001 x -1 ''; do
	sed "s/^kes_per_enrolee = .*/kes_per_enrolee = $v/" "$T/mef.conf" \
	    >"$T/bad.conf"
	out=$("$MEF" -c "$T/bad.conf" 2>&1) &&
	    m2m_fail "kes_per_enrolee = $v accepted"
	m2m_expect_contains "$out" "bad value for [bootstrap] kes_per_enrolee"
done
ok "[bootstrap] kes_per_enrolee 0, 1001, x, -1, empty: refused, named"

! grep -q -i -e "$KPM1" -e "$KPM2" -e "$PSK_GW1" "$T/mef.log" ||
    m2m_fail "a key in the MEF's log"
echo "test_mef_kes: $PASS passed"

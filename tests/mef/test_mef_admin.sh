#!/usr/bin/env bash
# m2m-label: mef
# m2m-mef's administration (enrolee / target add, remove) on SoftHSM2,
# where it can lose, leave or misread a key: a remove of the other kind's
# ID; an add after a failed registry lookup; key files (hex when all hex
# digits, else raw; a named one a regular file, not a link, warned about
# when others may read it); an enrolee remove racing a bootstrap (gdb);
# two adds of one ID at once.
# Each refusal says what to do and leaves the rows and the token's keys as
# they were.
#   bash test_mef_admin.sh hsm
. "$M2M_SRC/tests/integration/lib.sh"
. "$M2M_SRC/tests/mef/mef_lib.sh"

m2m_setup "${1:?usage: test_mef_admin.sh hsm}"

T=$M2M_TMP

# objects LABEL: the number of secret keys labelled LABEL in the MEF's token
# (a Kpm, a target's PSK or a Ke).
objects()
{
	m2m_ext m2m_p11tool --token-label mef --login --pin "$MEF_PIN" \
	    --list-objects --type secrkey 2>/dev/null |
	    grep -c -x "[[:space:]]*label:[[:space:]]*$1" || true
}

# rows TABLE COLUMN ID: the number of rows of TABLE whose COLUMN is ID.
rows()
{
	sqlite3 "$T/registry.db" "SELECT count(*) FROM $1 WHERE $2 = '$3'"
}

umask 077	# the key files this test writes are 0600 unless it says otherwise
mef_token
mef_conf 2
printf '%s\n' "$KPM1" >"$T/kpm1.hex"
mef enrolee add --kpm-id kpm-dev1 --enrolee-id /in-cse.example.com/CAE01 \
    --target "$GW1" --lifetime 3600 --kpm-file "$T/kpm1.hex" >/dev/null ||
    m2m_fail "enrolee add failed"
mef_target "$GW1" "$PSK_GW1"
[ "$(objects kpm-dev1)" -eq 1 ] && [ "$(objects "$GW1")" -eq 1 ] ||
    m2m_fail "the Kpm and the PSK are not in the token"

# --- a remove of the other kind's ID: refused, nothing changed -------------
out=$(mef target remove --id kpm-dev1 2>&1) &&
    m2m_fail "target remove of an enrolee's KpmId succeeded: $out"
m2m_expect_contains "$out" \
    "kpm-dev1 is an enrolee, not a target (use m2m-mef enrolee remove --kpm-id kpm-dev1)"
[ "$(objects kpm-dev1)" -eq 1 ] ||
    m2m_fail "target remove destroyed the enrolee's Kpm"
[ "$(rows enrolees kpm_id kpm-dev1)" -eq 1 ] ||
    m2m_fail "target remove took the enrolee's row"
out=$(mef enrolee remove --kpm-id "$GW1" 2>&1) &&
    m2m_fail "enrolee remove of a target ID succeeded: $out"
m2m_expect_contains "$out" \
    "$GW1 is a target, not an enrolee (use m2m-mef target remove --id $GW1)"
[ "$(objects "$GW1")" -eq 1 ] ||
    m2m_fail "enrolee remove destroyed the target's PSK"
[ "$(rows targets target_id "$GW1")" -eq 1 ] ||
    m2m_fail "enrolee remove took the target's row"
ok "target remove of a KpmId, enrolee remove of a target ID: refused, named, key and row kept"
# a key that no row names (an add cut short): either remove destroys it
printf '%064x' 5 | mef target add --id orphan-t --psk-file - >/dev/null ||
    m2m_fail "target add orphan-t"
sqlite3 "$T/registry.db" "DELETE FROM targets WHERE target_id = 'orphan-t'"
out=$(mef enrolee remove --kpm-id orphan-t 2>&1) ||
    m2m_fail "enrolee remove of an orphan key: $out"
[ "$(objects orphan-t)" -eq 0 ] || m2m_fail "the orphan key stays"
out=$(mef target remove --id orphan-t 2>&1) && m2m_fail "a second remove: $out"
m2m_expect_contains "$out" "no target orphan-t"
ok "a key no row names: destroyed by a remove; then \"no target\""
# each remove of its own kind still takes the row and the key
mef target remove --id "$GW1" >/dev/null || m2m_fail "target remove"
[ "$(objects "$GW1")" -eq 0 ] && [ "$(rows targets target_id "$GW1")" -eq 0 ] ||
    m2m_fail "target remove left the PSK or the row"
mef enrolee remove --kpm-id kpm-dev1 >/dev/null || m2m_fail "enrolee remove"
[ "$(objects kpm-dev1)" -eq 0 ] &&
    [ "$(rows enrolees kpm_id kpm-dev1)" -eq 0 ] ||
    m2m_fail "enrolee remove left the Kpm or the row"
ok "target remove, enrolee remove of their own kind: row and key gone"

# --- an add after a failed lookup: refused, nothing touched -----------------
# a row this m2m-mef cannot read (a lifetime past its maximum, as a later
# version might write): the lookup fails, which is not "no such ID"
mef enrolee add --kpm-id kpm-dev3 --enrolee-id /in-cse.example.com/CAE03 \
    --target "$GW1" --lifetime 3600 --kpm-file "$T/kpm1.hex" >/dev/null ||
    m2m_fail "enrolee add kpm-dev3"
sqlite3 "$T/registry.db" \
    "UPDATE enrolees SET lifetime = 99999999999 WHERE kpm_id = 'kpm-dev3'"
out=$(printf '%064x\n' 7 | mef enrolee add --kpm-id kpm-dev3 \
    --enrolee-id /in-cse.example.com/CAE03 --target "$GW1" --lifetime 3600 \
    --kpm-file - 2>&1) && m2m_fail "an add over an unreadable row: $out"
m2m_expect_contains "$out" 'registry: the enrolee row of "kpm-dev3" cannot be read'
m2m_expect_contains "$out" "cannot tell whether kpm-dev3 is an enrolee or a target: registry: registry error"
m2m_expect_contains "$out" "nothing changed: fix the registry, or remove kpm-dev3 first"
out=$(printf '%064x\n' 7 | mef target add --id kpm-dev3 --psk-file - 2>&1) &&
    m2m_fail "a target add over an unreadable row: $out"
m2m_expect_contains "$out" "cannot tell whether kpm-dev3 is a target or an enrolee"
[ "$(objects kpm-dev3)" -eq 1 ] || m2m_fail "the Kpm of kpm-dev3 is gone"
[ "$(rows enrolees kpm_id kpm-dev3)" -eq 1 ] || m2m_fail "the row went"
mef enrolee remove --kpm-id kpm-dev3 >/dev/null ||
    m2m_fail "enrolee remove of an unreadable row"
[ "$(objects kpm-dev3)" -eq 0 ] && [ "$(rows enrolees kpm_id kpm-dev3)" -eq 0 ] ||
    m2m_fail "enrolee remove left the unreadable enrolee's Kpm or row"
ok "enrolee / target add over a row the registry cannot read: refused, named, the Kpm kept; remove takes it"

# --- key files: hex when all hex digits, else raw bytes that are not text ---
# key_refused FILE MESSAGE: enrolee add with the Kpm in FILE is refused with
# MESSAGE; no row, no key.
key_refused()
{
	local out

	out=$(mef enrolee add --kpm-id kpm-k --enrolee-id /a/K --target "$GW1" \
	    --lifetime 60 --kpm-file "$1" 2>&1) &&
	    m2m_fail "a key file taken: $(od -c "$1" | head -n 3)"
	m2m_expect_contains "$out" "$2"
	[ "$(objects kpm-k)" -eq 0 ] && [ "$(rows enrolees kpm_id kpm-k)" -eq 0 ] ||
	    m2m_fail "a refused key file left a key or a row"
}
# key_taken FILE LEN: enrolee add with the Kpm in FILE succeeds (then
# removed again)
key_taken()
{
	mef enrolee add --kpm-id kpm-k --enrolee-id /a/K --target "$GW1" \
	    --lifetime 60 --kpm-file "$1" >/dev/null ||
	    m2m_fail "a good key file refused: $(od -c "$1" | head -n 3)"
	mef enrolee remove --kpm-id kpm-k >/dev/null || m2m_fail "remove kpm-k"
}
printf '0123456789abcdef\n' >"$T/k"
key_refused "$T/k" "16 hex digits decode to 8 bytes: a key is 16 to 62 bytes (32 to 124 hex digits)"
printf '%0126x\n' 1 >"$T/k"
key_refused "$T/k" "126 hex digits decode to 63 bytes: a key is 16 to 62 bytes"
printf '%031x' 1 >"$T/k"
key_refused "$T/k" "an odd number of hex digits (31)"
printf ' \n' >"$T/k"
key_refused "$T/k" "empty (or only white space)"
# hex broken over lines (xxd -p): not all hex digits, so raw, too long
printf '%s' "$KPM1" | xxd -r -p | xxd -p >"$T/k"
key_refused "$T/k" "66 bytes, not all hex digits: a key is 16 to 62 bytes, raw or as 32 to 124 hex digits"
printf '%s' "$KPM1" | xxd -r -p | head -c 15 >"$T/k"
key_refused "$T/k" "15 bytes, not all hex digits: a key is 16 to 62 bytes"
printf '%s' "$KPM1$KPM1" | xxd -r -p | head -c 63 >"$T/k"
key_refused "$T/k" "63 bytes, not all hex digits: a key is 16 to 62 bytes"
ok "key files: short, long and odd hex, white space only, hex over two lines, a short raw key: refused with the length and the rule"
printf '%032x\n' 1 >"$T/k"
key_taken "$T/k"
printf '%096X\r\n' 1 >"$T/k"
key_taken "$T/k"
printf '%s' "$KPM1" | xxd -r -p | head -c 16 >"$T/k"
key_taken "$T/k"
printf '%s' "$KPM1$KPM1" | xxd -r -p | head -c 48 >"$T/k"
key_taken "$T/k"
printf '%0124x\n' 1 >"$T/k"
key_taken "$T/k"
printf '%s' "$KPM1$KPM1" | xxd -r -p | head -c 62 >"$T/k"
key_taken "$T/k"
ok "key files: 16, 48 and 62 bytes in hex (lower; upper with CRLF), 16, 48 and 62 raw bytes: taken"
# a named key file is the file itself, a regular one; "-" may be a pipe
ln -s "$T/kpm1.hex" "$T/link.hex"
key_refused "$T/link.hex" "link.hex: a symbolic link: name the key file itself"
mkfifo "$T/fifo"
out=$(timeout 20 "$MEF" -c "$T/mef.conf" enrolee add --kpm-id kpm-k \
    --enrolee-id /a/K --target "$GW1" --lifetime 60 --kpm-file "$T/fifo" \
    2>&1) && m2m_fail "a FIFO taken as a key file: $out"
m2m_expect_contains "$out" "fifo: not a regular file (a FIFO): name the key file, or give the key on standard input as -"
key_refused /dev/null "/dev/null: not a regular file (a device)"
key_refused "$T" "not a regular file (a directory)"
printf '%s' "$KPM1" | mef enrolee add --kpm-id kpm-k --enrolee-id /a/K \
    --target "$GW1" --lifetime 60 --kpm-file - >/dev/null ||
    m2m_fail "a key on standard input (a pipe) refused"
mef enrolee remove --kpm-id kpm-k >/dev/null || m2m_fail "remove kpm-k"
ok "key files: a symbolic link, a FIFO (without waiting for a writer), a device, a directory refused; a pipe on - taken"
# a key file group or others may read: taken, with one warning line
printf '%s\n' "$KPM1" >"$T/open.hex"
chmod 640 "$T/open.hex"
out=$(mef enrolee add --kpm-id kpm-k --enrolee-id /a/K --target "$GW1" \
    --lifetime 60 --kpm-file "$T/open.hex" 2>&1) ||
    m2m_fail "a group-readable key file refused: $out"
[ "$(grep -c "warning" <<<"$out")" -eq 1 ] ||
    m2m_fail "not one warning for a group-readable key file: $out"
m2m_expect_contains "$out" "m2m-mef: warning: $T/open.hex: mode 0640 lets group or others read the key (chmod 600, and delete the file once the key is imported)"
mef enrolee remove --kpm-id kpm-k >/dev/null || m2m_fail "remove kpm-k"
chmod 604 "$T/open.hex"
out=$(mef target add --id gw-k --psk-file "$T/open.hex" 2>&1) ||
    m2m_fail "an others-readable key file refused: $out"
m2m_expect_contains "$out" "mode 0604 lets group or others read the key"
mef target remove --id gw-k >/dev/null || m2m_fail "remove gw-k"
out=$(mef enrolee add --kpm-id kpm-k --enrolee-id /a/K --target "$GW1" \
    --lifetime 60 --kpm-file "$T/kpm1.hex" 2>&1) || m2m_fail "add: $out"
! grep -q "warning" <<<"$out" || m2m_fail "a warning for a 0600 key file: $out"
mef enrolee remove --kpm-id kpm-k >/dev/null || m2m_fail "remove kpm-k"
ok "key files readable by group (0640) or others (0604): one warning line each, taken; 0600: none"
# a key file another user owns, or group or others may write: refused
printf '%s\n' "$KPM1" >"$T/w.hex"
chmod 620 "$T/w.hex"
key_refused "$T/w.hex" "w.hex: mode 0620 lets group or others write the key, so it may not be the one you mean: chmod 600, check the key, and add again"
chmod 602 "$T/w.hex"
out=$(mef target add --id gw-k --psk-file "$T/w.hex" 2>&1) &&
    m2m_fail "an others-writable key file taken: $out"
m2m_expect_contains "$out" "mode 0602 lets group or others write the key"
[ "$(objects gw-k)" -eq 0 ] || m2m_fail "a refused target key file left a key"
# a second name for a file (a hard link): refused, through either name
printf '%s\n' "$KPM1" >"$T/hl.hex"
chmod 600 "$T/hl.hex"
ln "$T/hl.hex" "$T/hl2.hex"
key_refused "$T/hl2.hex" "hl2.hex: 2 names (hard links) for this file, so it may not be the key file you made: copy the key into a new file (install -m 600), or give it on standard input as -"
key_refused "$T/hl.hex" "hl.hex: 2 names (hard links)"
rm -f "$T/hl2.hex"
key_taken "$T/hl.hex"
if [ "$(id -u)" -eq 0 ]; then
	chmod 600 "$T/w.hex"
	chown nobody "$T/w.hex"
	key_refused "$T/w.hex" "w.hex: owned by uid $(id -u nobody), neither root nor you (uid 0), who may know or have changed the key: copy it into a file of yours (install -m 600), or give it on standard input as -"
	ok "key files: writable by group (0620) or others (0602), hard-linked, or owned by another user: refused, nothing stored; the same file with one name: taken"
else
	ok "key files: writable by group (0620) or others (0602), hard-linked: refused, nothing stored; the same file with one name: taken (the other owner's case needs root: not run)"
fi

# --- enrolee remove while the enrolee bootstraps -----------------------------
# A bootstrap that commits just before the remove's registry transaction:
# gdb stops the remove as it calls mef_reg_enrolee_remove (the KeIds were
# listed before that call, outside the transaction, before the fix) and a
# bootstrap runs then. Its KeId goes with the others and its Ke too: no Ke
# stays in the token without a row.
command -v gdb >/dev/null || m2m_fail "gdb not found (scripts/deps.txt)"
ke_objects()
{
	m2m_ext m2m_p11tool --token-label mef --login --pin "$MEF_PIN" \
	    --list-objects --type secrkey 2>/dev/null |
	    grep -c "label:.*@$FQDN\$" || true
}
mef enrolee add --kpm-id kpm-dev4 --enrolee-id /in-cse.example.com/CAE04 \
    --target "$GW1" --lifetime 3600 --kpm-file "$T/kpm1.hex" >/dev/null ||
    m2m_fail "enrolee add kpm-dev4"
mef_start
post_file "$T/boot" "{\"Targets\": [\"$GW1\"]}"
cat >"$T/boot.sh" <<BOOT
timeout 20 openssl s_client -tls1_2 -connect 127.0.0.1:$PORT \
    -servername $FQDN -psk_identity kpm-dev4 -psk $KPM1 -ign_eof -nocommands \
    <"$T/boot" >>"$T/boot.out" 2>&1
BOOT
bash "$T/boot.sh"
[ "$(status_of "$(cat "$T/boot.out")")" = 200 ] ||
    m2m_fail "bootstrap of kpm-dev4: $(cat "$T/boot.out")"
: >"$T/boot.out"
cat >"$T/gdb.cmd" <<GDB
set breakpoint pending on
break mef_reg_enrolee_remove
commands
shell bash $T/boot.sh
continue
end
run
GDB
# (LeakSanitizer of an ASan build cannot run under ptrace: off for this run)
out=$(ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
    timeout 120 gdb -nx -batch -x "$T/gdb.cmd" --args "$MEF" \
    -c "$T/mef.conf" enrolee remove --kpm-id kpm-dev4 2>&1) ||
    m2m_fail "gdb: $out"
[ "$(status_of "$(cat "$T/boot.out")")" = 200 ] ||
    m2m_fail "no bootstrap while the remove was stopped: $(cat "$T/boot.out") $out"
m2m_expect_contains "$out" "enrolee kpm-dev4 removed (2 KeId(s), 3 key(s))"
[ "$(rows kes kpm_id kpm-dev4)" -eq 0 ] || m2m_fail "KeId rows of kpm-dev4 stay"
[ "$(ke_objects)" -eq 0 ] ||
    m2m_fail "$(ke_objects) Ke object(s) left in the token without a row: $out"
[ "$(objects kpm-dev4)" -eq 0 ] || m2m_fail "the Kpm of kpm-dev4 stays"
mef_stop
ok "enrolee remove with a bootstrap just before its transaction: both KeIds and both Ke gone, the Kpm too"

# --- two adds of one ID at once --------------------------------------------
# Each add checked the registry, imported its key (destroying any key of
# that label as a stale one) and inserted its row, unserialised: the loser
# of the insert destroyed the key it had imported, which was by then the
# winner's, so the winner's row stayed without a key although it said
# "added". Now the adds take a lock beside the registry in turn: one says
# added and its key works, the other is refused, one row and one key.
printf '%064x\n' 170 >"$T/ka.hex"
printf '%064x\n' 187 >"$T/kb.hex"
KA=$(printf '%064x' 170)
KB=$(printf '%064x' 187)
for i in $(seq 1 10); do
	mef enrolee add --kpm-id kpm-r$i --enrolee-id /in-cse.example.com/R$i \
	    --target "$GW1" --lifetime 60 --kpm-file "$T/ka.hex" \
	    >"$T/ra$i.out" 2>&1 &
	mef enrolee add --kpm-id kpm-r$i --enrolee-id /in-cse.example.com/R$i \
	    --target "$GW1" --lifetime 60 --kpm-file "$T/kb.hex" \
	    >"$T/rb$i.out" 2>&1 &
	printf '%s' "$KA" | mef target add --id gw-r$i --psk-file - \
	    >"$T/ta$i.out" 2>&1 &
	printf '%s' "$KB" | mef target add --id gw-r$i --psk-file - \
	    >"$T/tb$i.out" 2>&1 &
	wait
done
mef_start
# won PREFIX I KIND: the file (a or b) of the one add that said added
won()
{
	local a=0 b=0

	grep -q "$3 .* added" "$T/${1}a$2.out" && a=1
	grep -q "$3 .* added" "$T/${1}b$2.out" && b=1
	[ $((a + b)) -eq 1 ] || m2m_fail "$3 $2: not one add said added: $(cat "$T/${1}a$2.out" "$T/${1}b$2.out")"
	m2m_expect_contains "$(cat "$T/${1}a$2.out" "$T/${1}b$2.out")" \
	    "is already"
	[ "$a" -eq 1 ] && echo a || echo b
}
for i in $(seq 1 10); do
	[ "$(rows enrolees kpm_id kpm-r$i)" -eq 1 ] &&
	    [ "$(objects kpm-r$i)" -eq 1 ] ||
	    m2m_fail "kpm-r$i: $(rows enrolees kpm_id kpm-r$i) row(s), $(objects kpm-r$i) Kpm(s)"
	[ "$(rows targets target_id gw-r$i)" -eq 1 ] &&
	    [ "$(objects gw-r$i)" -eq 1 ] ||
	    m2m_fail "gw-r$i: $(rows targets target_id gw-r$i) row(s), $(objects gw-r$i) PSK(s)"
	# the key of the add that said added is the one in the token
	[ "$(won r "$i" enrolee)" = a ] && k=$KA || k=$KB
	out=$(timeout 20 openssl s_client -tls1_2 -connect "127.0.0.1:$PORT" \
	    -servername "$FQDN" -psk_identity kpm-r$i -psk "$k" -ign_eof \
	    -nocommands <"$T/boot" 2>&1 || true)
	[ "$(status_of "$out")" = 200 ] ||
	    m2m_fail "kpm-r$i: no bootstrap with the key of its add: $out"
	[ "$(won t "$i" target)" = a ] && k=$KA || k=$KB
	printf 'GET /fetchCredentials/%032x@%s HTTP/1.1\r\nHost: %s\r\nX-M2M-Origin: gw-r%s\r\nConnection: close\r\n\r\n' \
	    0 "$FQDN" "$FQDN" "$i" >"$T/f"
	out=$(timeout 20 openssl s_client -tls1_2 -connect "127.0.0.1:$PORT" \
	    -servername "$FQDN" -psk_identity gw-r$i -psk "$k" -ign_eof \
	    -nocommands <"$T/f" 2>&1 || true)
	[ "$(status_of "$out")" = 404 ] ||
	    m2m_fail "gw-r$i: no handshake with the key of its add: $out"
done
mef_stop
ok "10 pairs of concurrent enrolee adds and of target adds of one ID: one added, one refused; one row and one key each, the added key's handshake works"

! grep -q -i -e "$KPM1" -e "$PSK_GW1" "$T"/*.log 2>/dev/null ||
    m2m_fail "a key in a log"
echo "test_mef_admin: $PASS passed"

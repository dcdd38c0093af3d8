#!/usr/bin/env bash
# The story of scripts/demo as a test (tests/flows/story.sh), with real
# processes on loopback: m2m-mef on SoftHSM2, the device's m2mtokend on
# swtpm, the gateway's m2mtokend on SoftHSM2, m2m-assoc on both ends.
#
# 1. The whole flow once: bootstrap, Kpsa and E2E keys on the device, the
#    association with the gateway fetching the Kpsa on demand, the same
#    E2EKeyId on the gateway, MIC and seal / open both ways.
# 2. kill -9 of the daemon doing the step, and of the MEF when the step
#    talks to it, at each step of the flow (bootstrap, Kpsa derivation,
#    E2E provisioning, fetch on demand inside the association, the
#    gateway's E2E provisioning) at several points in time; then a restart, and checks: every store and
#    the registry open and pass integrity_check; the MEF's registry rows and
#    the Ke keys of its token are the same set; every Ke of the device and
#    every Kpsa of the gateway is one the MEF knows, or one it superseded
#    (it keeps the device's 2 newest KeIds); no (role, label) twice
#    in any token; no key value readable; and the whole flow then runs
#    again to completion.
# 3. No key readable anywhere, no key material in any IPC reply.
#
#   bash test_story.sh            (ctest flows.story)
# Environment: M2M_BUILD, M2M_SRC, M2MTOKEN_MODULE (CMake passes them);
# STORY_DELAYS (default "0 0.05 0.2"): seconds between starting a step and
# the kill, or "none": no kill matrix (the sanitizer build); STORY_STRICT_TPM=1: no resource manager's flush after the
# device's daemon is killed (see crash()).
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
m2m_setup tpm
# shellcheck source=tests/flows/story.sh
. "$M2M_SRC/tests/flows/story.sh"

STORY_QUIET=1
DELAYS=${STORY_DELAYS:-0 0.05 0.2}
[ "$DELAYS" != none ] || DELAYS=

story_setup
story_provision
story_start_all

# the flow from the device's bootstrap to E2E both ways
run_flow()
{
	story_bootstrap
	story_derive
	story_assoc || m2m_fail "association failed (KeId $KEID)"
	grep -q "m2mtokend fetched Kpsa" "$S/assoc.gw" ||
	    m2m_fail "the gateway did not fetch the unknown Kpsa"
	story_gw_e2e
	story_e2e dev gw
	story_e2e gw dev
}

run_flow
echo "ok: the story runs: bootstrap, fetch on demand, association, E2E both ways"

# keys P: "role<TAB>label" of every secret key of P's token (sorted).
keys()
{
	party "$1" "$KEYCHECK" --token "$1" --pin-file "$S/$1/pin" >"$S/kc.$1" ||
	    { cat "$S/kc.$1" >&2; m2m_fail "$1: keycheck failed (a value readable, or the store did not open)"; }
	awk -F'\t' '$1 == "key" { print $2 "\t" $3 }' "$S/kc.$1" | sort
}

check_stores()
{
	local what=$1 p r mef_kes mef_ke dev_kes

	for p in mef gw dev; do
		r=$(sqlite3 "file:$S/$p/store.db?mode=ro" 'PRAGMA integrity_check' 2>&1) ||
		    m2m_fail "$what: $p store does not open: $r"
		[ "$r" = ok ] || m2m_fail "$what: $p store: $r"
	done
	r=$(sqlite3 "file:$S/mef/registry.db?mode=ro" 'PRAGMA integrity_check' 2>&1)
	[ "$r" = ok ] || m2m_fail "$what: MEF registry: $r"
	for p in mef gw dev; do
		keys "$p" >"$S/keys.$p"
		if [ -n "$(uniq -d "$S/keys.$p")" ]; then
			m2m_fail "$what: $p holds a key twice: $(uniq -d "$S/keys.$p")"
		fi
	done
	mef_kes=$(sqlite3 "file:$S/mef/registry.db?mode=ro" \
	    'SELECT lower(ke_id) FROM kes ORDER BY 1')
	mef_ke=$(awk -F'\t' '$1 == "ke" { print tolower($2) }' "$S/keys.mef" | sort)
	[ "$mef_kes" = "$mef_ke" ] || m2m_fail "$what: MEF registry rows and Ke keys differ:
rows: $mef_kes
keys: $mef_ke"
	# The device keeps every Ke it bootstrapped; the MEF only its 2 newest
	# KeIds ([bootstrap] kes_per_enrolee): an older one is superseded, so
	# a key of a KeId the MEF lacks is fine once the MEF holds 2 others.
	dev_kes=$(sqlite3 "file:$S/mef/registry.db?mode=ro" \
	    "SELECT count(*) FROM kes WHERE kpm_id = '$KPMID'")
	while IFS=$'\t' read -r role label; do
		case $role in
		ke | kpsa) grep -qixF -- "$label" <<<"$mef_kes" ||
		    [ "$dev_kes" -eq 2 ] ||
		    m2m_fail "$what: device $role $label unknown to the MEF" ;;
		esac
	done <"$S/keys.dev"
	while IFS=$'\t' read -r role label; do
		[ "$role" != kpsa ] || grep -qixF -- "$label" <<<"$mef_kes" ||
		    [ "$dev_kes" -eq 2 ] ||
		    m2m_fail "$what: gateway kpsa $label unknown to the MEF"
	done <"$S/keys.gw"
	[ "$dev_kes" -le 2 ] ||
	    m2m_fail "$what: the MEF holds $dev_kes KeIds of the device, not at most 2"
}

# crash STEP VICTIM DELAY: start STEP, kill -9 VICTIM (mef, or the daemon
# that does the step) after DELAY seconds, restart it, check, run again.
crash()
{
	local step=$1 victim=$2 delay=$3 p var opid rc=0

	case $step in
	bootstrap | derive | provision) p=dev ;;
	fetch | gwprovision) p=gw ;;
	esac
	if [ "$victim" = mef ]; then var=MEF_PID; else var=$([ $p = dev ] &&
	    echo DEV_MTD_PID || echo GW_MTD_PID); fi
	# the steps before STEP, so that STEP has what it needs
	case $step in
	derive | provision | fetch | gwprovision) story_bootstrap ;;
	esac
	case $step in
	provision | fetch | gwprovision) ipc dev DeriveKpsa \
	    "{\"key\": \"$KEID\", \"target\": \"$GWID\"}" >/dev/null ||
	    m2m_fail "DeriveKpsa before $step" ;;
	esac
	case $step in
	gwprovision) ipc gw FetchCredentials "{\"key\": \"$KEID\"}" \
	    >/dev/null || m2m_fail "FetchCredentials before $step" ;;
	esac
	case $step in
	bootstrap) ipc dev Bootstrap "{\"targets\": [\"$GWID\"]}" ;;
	derive) ipc dev DeriveKpsa "{\"key\": \"$KEID\", \"target\": \"$GWID\"}" ;;
	provision) ipc dev ProvisionEndToEnd "{\"key\": \"$KEID\", \"role\": \"kpsa\"}" ;;
	fetch) story_assoc ;;
	gwprovision) ipc gw ProvisionEndToEnd "{\"key\": \"$KEID\", \"role\": \"kpsa\"}" ;;
	esac >"$S/crash.out" 2>&1 &
	opid=$!
	sleep "$delay"
	story_kill9 "$var"
	wait "$opid" || rc=$?
	# The device's TPM is swtpm without a resource manager: objects a
	# killed process had loaded stay in its 3 transient slots, and the
	# token's shared mode cannot reclaim them (the next start fails with
	# TPM_RC_OBJECT_MEMORY).  On a device the kernel's resource manager
	# (/dev/tpmrm0) flushes a dead connection's objects; do what it would.
	# STORY_STRICT_TPM=1 leaves them, to show the failure.
	if [ "$victim" = mtd ] && [ "$p" = dev ] &&
	    [ "${STORY_STRICT_TPM:-0}" != 1 ]; then
		tpm2_flushcontext -T "$M2M_TCTI" -t >/dev/null 2>&1 || true
		tpm2_flushcontext -T "$M2M_TCTI" -l >/dev/null 2>&1 || true
	fi
	if [ "$victim" = mef ]; then story_start_mef; else story_start_mtd "$p"; fi
	check_stores "kill -9 $victim during $step (+${delay}s, step rc $rc)"
	run_flow
	echo "ok: kill -9 $victim during $step (+${delay}s, step $([ $rc = 0 ] && echo completed || echo failed)): stores open and agree, the flow runs again"
}

# The MEF is killed during the steps that talk to it (bootstrap, fetch);
# derive and both provisions run on one daemon alone, so killing the MEF
# then would only test a MEF restart, which the two cases above do.
for step in bootstrap derive provision fetch gwprovision; do
	for victim in mef mtd; do
		case $step/$victim in
		derive/mef | provision/mef | gwprovision/mef) continue ;;
		esac
		for delay in $DELAYS; do
			crash "$step" "$victim" "$delay"
		done
	done
done

check_stores "at the end"
story_nokeys >"$S/nokeys.out" || { cat "$S/nokeys.out"; exit 1; }
echo "ok: no key readable in any token; $(tail -n 1 "$S/nokeys.out")"
STORY_QUIET=1 story_cert
echo "ok: the certificate-based bootstrap: KeId $CERT_KEID on the device and the MEF"

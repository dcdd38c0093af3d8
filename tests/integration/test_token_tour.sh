#!/usr/bin/env bash
# m2m-label: demo
# The PKCS#11 tour of one token (demo/m2mtoken-demo, what scripts/demo
# showed before the story; `scripts/demo tour` still shows it): token life
# cycle, Kpm/Ke imported, Km, Kpsa and the E2E keys derived in the token
# with the known answers of onem2m-keys.md section 7, a message MIC'd and
# sealed, and every standard way of getting a key out refused.  Its exit
# status is 0 only when every step behaved as expected.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

m2m_setup "${1:?usage: test_token_tour.sh hsm|tpm}"
DEMO=$M2M_BUILD/demo/m2mtoken-demo
[ -x "$DEMO" ] || m2m_fail "m2mtoken-demo not built"
out=$("$DEMO" 2>&1) || { printf '%s\n' "$out" >&2; m2m_fail "a step failed"; }
m2m_expect_contains "$out" "steps behaved as expected"
echo "ok: $M2M_BACKEND: $(tail -n 1 <<<"$out")"

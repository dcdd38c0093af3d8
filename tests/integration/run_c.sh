#!/usr/bin/env bash
# Run one integration C client against a fresh backend:
#   bash run_c.sh hsm|tpm BINARY [ARGS...]
# The client is started as "BINARY hsm|tpm ARGS..." with M2MTOKEN_MODULE,
# M2MTOKEN_CONF and SOFTHSM2_CONF set (see lib.sh); everything it started
# with is cleaned up afterwards, whatever the outcome.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -ge 2 ] || m2m_fail "usage: run_c.sh hsm|tpm BINARY [ARGS...]"
backend=$1
binary=$2
shift 2
m2m_setup "$backend"
# Not exec: the EXIT trap must still run after the client.
"$binary" "$backend" "$@" </dev/null

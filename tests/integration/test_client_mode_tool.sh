#!/usr/bin/env bash
# m2m-label: tool
# Client mode with the external PKCS#11 tools: test_pkcs11_tool.sh
# (OpenSC pkcs11-tool) and test_p11tool.sh (GnuTLS p11tool) run again with
# M2M_CLIENT_MODE=1, so that lib.sh's m2m_setup starts p11srv_harness and
# every tool loads the module as a client of it (test_client_mode.sh has
# the C clients and the protocol errors).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

backend=${1:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
for t in test_pkcs11_tool.sh test_p11tool.sh; do
	out=$(M2M_CLIENT_MODE=1 bash "$here/$t" "$backend" 2>&1) ||
	    { printf '%s\n' "$out" | tail -40 >&2
	      m2m_fail "$t in client mode"; }
	n=$(printf '%s\n' "$out" | grep -c '^ok')
	[ "$n" -gt 0 ] || m2m_fail "$t in client mode: no check ran"
	m2m_log "$t in client mode: $n checks ok"
done

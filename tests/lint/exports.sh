#!/usr/bin/env bash
# Lint: the module exports only PKCS#11 symbols (names starting with C_),
# and at least C_GetFunctionList.
# Usage: exports.sh PATH/TO/libm2mtoken.so
set -euo pipefail
so=${1:?usage: exports.sh PATH/TO/libm2mtoken.so}

[ -f "$so" ] || { echo "$so: no such file"; exit 1; }
syms=$(nm -D --defined-only "$so" | awk 'NF >= 3 { print $3 }') ||
    { echo "$so: nm failed"; exit 1; }
bad=$(grep -v '^C_' <<<"$syms" | grep -v '^$' || true)
rc=0
if [ -n "$bad" ]; then
	echo "$so exports symbols outside the PKCS#11 API:"
	sed 's/^/    /' <<<"$bad"
	rc=1
fi
if ! grep -qx 'C_GetFunctionList' <<<"$syms"; then
	echo "$so does not export C_GetFunctionList"
	rc=1
fi
[ "$rc" -ne 0 ] || echo "exports: $(grep -c . <<<"$syms") symbols, all C_*"
exit "$rc"

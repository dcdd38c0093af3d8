#!/usr/bin/env bash
# Self-test of include_direction.sh: a tree with one violation of each
# kind the lint knows for pkcs11/ (and p11wire/'s one) must fail it,
# naming the line; a clean tree must pass.
# Usage: include_direction_selftest.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/pkcs11" "$tmp/hsm" "$tmp/token"
echo '/* x */' >"$tmp/hsm/hsm_int.h"
echo '/* x */' >"$tmp/token/core.h"
printf '#include "core.h"\nint f(void) { return 0; }\n' >"$tmp/pkcs11/ok.c"
bash "$here/include_direction.sh" "$tmp" >/dev/null ||
    { echo "FAIL: a clean tree fails the lint"; exit 1; }

fail=0
check()
{
	local name=$1 text=$2 want=$3 out

	printf '%s\n' "$text" >"$tmp/pkcs11/$name.c"
	if out=$(bash "$here/include_direction.sh" "$tmp"); then
		echo "FAIL: $name passes the lint"
		fail=1
	elif ! grep -q "pkcs11/$name.c:1: .*$want" <<<"$out"; then
		echo "FAIL: $name: no '$want' line in:"
		echo "$out"
		fail=1
	fi
	rm -f "$tmp/pkcs11/$name.c"
}
check ops 'r = be->ops->hmac(be->impl, &kr, h, m, n, out);' 'backend op'
check dotops 'c.be.ops->forget(c.be.impl, id);' 'backend op'
check include '#include "hsm_int.h"' 'must not include hsm/'
# p11wire/ (shared by pkcs11/ and daemon/): public headers only
mkdir -p "$tmp/p11wire"
printf '#include "hsm_int.h"\n' >"$tmp/p11wire/codec.c"
if out=$(bash "$here/include_direction.sh" "$tmp"); then
	echo "FAIL: p11wire/ including token/ passes the lint"
	fail=1
elif ! grep -q "p11wire/codec.c:1: .*public headers only" <<<"$out"; then
	echo "FAIL: p11wire: no 'public headers only' line in:"
	echo "$out"
	fail=1
fi
rm -f "$tmp/p11wire/codec.c"
[ "$fail" -eq 0 ] && echo "include direction self-test: ok"
exit "$fail"

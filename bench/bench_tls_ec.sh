#!/usr/bin/env bash
# TLS 1.2 ECDHE-ECDSA handshakes per second, server key in the token against
# a key in a PEM file, in the same run; prints one markdown table.
#
#   bench/bench_tls_ec.sh [hsm|tpm|softhsm2...]  (default: all three)
#
# For each backend: a throw-away SoftHSM2 (and for tpm a private swtpm on
# 127.0.0.1), made by tests/integration/lib.sh's m2m_setup; a token with an
# EC P-256 key pair made inside it (pkcs11-tool --keypairgen); a test CA
# (OpenSSL) that certifies it and a second P-256 key kept in a PEM file.  Two
# "openssl s_server -www -tls1_2" on free 127.0.0.1 ports serve the same
# kind of certificate: one signs with the token key through libp11's engine
# (-key org.openssl.engine:pkcs11:<URI>, PKCS11_MODULE_PATH = the module;
# docs/clients.md says why not "-engine pkcs11" on the TPM backend), the
# other with the PEM key.  "openssl s_time -new" (a full handshake per
# connection, ECDHE-ECDSA-AES128-GCM-SHA256) runs against each in turn,
# A B A B ..., BENCH_ROUNDS rounds (default 9) of BENCH_SECONDS (default 1)
# per side, so that a change of machine load hits both.  A round's rate is
# its connections / its wall time; printed: the median rate of each side and
# the median of the per-round ratios token / file.  Also printed: the
# server's CPU time per handshake (user + system of that s_server, and for
# the token side on the TPM backend swtpm's too), which a loaded machine
# disturbs far less than the wall rate.  The token key cannot
# leave the token, so the file side uses another P-256 key: the cost of an
# ECDSA signature does not depend on the key.  "softhsm2" is the reference
# row: the same measurement with SoftHSM2's own module in place of
# libm2mtoken.so (the token made on SoftHSM2's free slot), i.e. what libp11
# and a software PKCS#11 token cost without m2mtoken.  Everything is stopped
# and removed on exit.
#
# Environment (optional): BENCH_BUILD_DIR (build-bench, built like bench/run
# when missing), BENCH_JOBS (2), BENCH_ROUNDS, BENCH_SECONDS,
# BENCH_SOFTHSM_MODULE (/usr/lib/softhsm/libsofthsm2.so).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
ROUNDS=${BENCH_ROUNDS:-9}
SECONDS_PER=${BENCH_SECONDS:-1}
CIPHER=ECDHE-ECDSA-AES128-GCM-SHA256
SOFTHSM=${BENCH_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

die()
{
	printf 'bench_tls_ec: %s\n' "$*" >&2
	exit 1
}

# one BACKEND: the measurement on one backend, in its own process (m2m_setup
# once per shell); prints "token_rate file_rate"
one()
{
	local backend=$1 so=so-87654321 pin=user-12345678 label=bench-tls
	local slots slot key r side port spid
	local -A ports rates pids conns ticks

	M2MTOKEN_MODULE=$BUILD/libm2mtoken.so
	if [ "$backend" = softhsm2 ]; then
		M2MTOKEN_MODULE=$SOFTHSM
		backend=hsm
	fi
	M2M_BUILD=$BUILD
	export M2MTOKEN_MODULE M2M_BUILD
	# shellcheck source=../tests/integration/lib.sh
	. "$ROOT/tests/integration/lib.sh"
	m2m_setup "$backend"

	slots=$(m2m_p11tool --list-slots 2>&1)
	slot=$(awk '/^Slot [0-9]+ \(0x[0-9a-fA-F]+\)/ { s = $3 }
	    /token state: +uninitialized/ { gsub(/[()]/, "", s); print s;
	    exit }' <<<"$slots")
	[ -n "$slot" ] || die "no uninitialised slot"
	m2m_p11tool --slot "$slot" --init-token --label "$label" \
	    --so-pin "$so" >/dev/null 2>&1 || die "--init-token failed"
	m2m_p11tool --token-label "$label" --login --login-type so \
	    --so-pin "$so" --init-pin --pin "$pin" >/dev/null 2>&1 ||
	    die "--init-pin failed"
	m2m_p11tool --token-label "$label" --login --pin "$pin" \
	    --keypairgen --key-type EC:prime256v1 --label tls-key --id 01 \
	    >/dev/null 2>&1 || die "--keypairgen EC:prime256v1 failed"
	key="org.openssl.engine:pkcs11:pkcs11:token=$label;object=tls-key"
	key="$key;type=private;pin-value=$pin"
	export PKCS11_MODULE_PATH=$M2MTOKEN_MODULE

	cd "$M2M_TMP"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout ca.key -out ca.pem -subj /CN=bench-ca -days 2 \
	    2>/dev/null || die "cannot make the CA"
	openssl req -new -key "$key" -subj /CN=token.bench -out token.csr \
	    >/dev/null 2>&1 ||
	    die "openssl req with the token key failed"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout file.key -subj /CN=file.bench -out file.csr 2>/dev/null ||
	    die "cannot make the file key"
	for side in token file; do
		openssl x509 -req -in "$side.csr" -CA ca.pem -CAkey ca.key \
		    -days 2 -out "$side.pem" 2>/dev/null ||
		    die "the CA cannot sign"
	done

	for side in token file; do
		port=$(m2m_free_port_pair)
		if [ "$side" = token ]; then
			openssl s_server -key "$key" -cert token.pem \
			    -accept "127.0.0.1:$port" -www -tls1_2 \
			    </dev/null >"s_server.$side.log" 2>&1 &
		else
			openssl s_server -key file.key -cert file.pem \
			    -accept "127.0.0.1:$port" -www -tls1_2 \
			    </dev/null >"s_server.$side.log" 2>&1 &
		fi
		spid=$!
		m2m_defer m2m_stop "$spid"
		for ((r = 0; r < 300; r++)); do
			grep -q '^ACCEPT' "s_server.$side.log" 2>/dev/null &&
			    break
			kill -0 "$spid" 2>/dev/null ||
			    die "s_server ($side) exited: $(cat \
			    "s_server.$side.log")"
			sleep 0.1
		done
		ports[$side]=$port
		pids[$side]=$spid
		rates[$side]=
		conns[$side]=0
		ticks[$side]=0
	done

	# cpu_ticks SIDE: user + system clock ticks of that side's server, plus
	# swtpm's for the token side (the TPM's work; on hardware it is the
	# chip's time, which the wall rate shows instead)
	cpu_ticks()
	{
		local p sum=0

		for p in ${pids[$1]} $([ "$1" = token ] &&
		    cat "$M2M_TMP/swtpm.pid" 2>/dev/null); do
			sum=$((sum + $(awk '{ print $14 + $15 }' \
			    "/proc/$p/stat")))
		done
		echo "$sum"
	}

	# one round per side, alternating; wall time in nanoseconds
	local start end out c c0
	for ((r = 0; r < ROUNDS; r++)); do
		for side in token file; do
			c0=$(cpu_ticks "$side")
			start=$(date +%s%N)
			out=$(openssl s_time -connect "127.0.0.1:${ports[$side]}" \
			    -new -time "$SECONDS_PER" -tls1_2 -cipher "$CIPHER" \
			    2>&1) || die "s_time ($side) failed: $out"
			end=$(date +%s%N)
			ticks[$side]=$((ticks[$side] + $(cpu_ticks "$side") - c0))
			c=$(sed -n 's/^\([0-9]*\) connections in .*real.*/\1/p' \
			    <<<"$out")
			[ -n "$c" ] && [ "$c" -gt 0 ] ||
			    die "s_time ($side): no connection: $out"
			conns[$side]=$((conns[$side] + c))
			rates[$side]+="$(awk -v c="$c" -v ns=$((end - start)) \
			    'BEGIN { printf "%.3f", c / (ns / 1e9) }') "
		done
	done
	# median token rate, median file rate, median per-round ratio, and
	# the server side's CPU time per handshake (token, file) in us
	awk -v tk="${rates[token]}" -v fl="${rates[file]}" \
	    -v ct="${conns[token]}" -v tt="${ticks[token]}" \
	    -v cf="${conns[file]}" -v tf="${ticks[file]}" \
	    -v hz="$(getconf CLK_TCK)" '
	function median(a, n,    i, j, x) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				x = a[j]; a[j] = a[j - 1]; a[j - 1] = x
			}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	BEGIN {
		n = split(tk, t, " "); split(fl, f, " ")
		for (i = 1; i <= n; i++)
			q[i] = t[i] / f[i]
		printf "%.1f %.1f %.3f %.0f %.0f\n", median(t, n),
		    median(f, n), median(q, n), tt / hz / ct * 1e6,
		    tf / hz / cf * 1e6
	}'
}

if [ "${1:-}" = --one ]; then
	one "$2"
	exit 0
fi

BACKENDS=("$@")
[ "${#BACKENDS[@]}" -gt 0 ] || BACKENDS=(hsm tpm softhsm2)
for b in "${BACKENDS[@]}"; do
	case $b in
	hsm | tpm | softhsm2) ;;
	*) die "usage: bench/bench_tls_ec.sh [hsm|tpm|softhsm2...]" ;;
	esac
done
for tool in openssl softhsm2-util swtpm pkcs11-tool; do
	command -v "$tool" >/dev/null ||
	    die "$tool not found (packages: scripts/deps.txt)"
done
[ -f /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so ] ||
    [ -n "$(find /usr/lib -path '*engines-3/pkcs11.so' -print -quit)" ] ||
    die "libp11's engine not found (package libengine-pkcs11-openssl)"

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DM2M_SANITIZE=OFF >"$BUILD.cmake.log" 2>&1 ||
	    { cat "$BUILD.cmake.log" >&2; die "cmake failed"; }
	rm -f "$BUILD.cmake.log"
fi
grep -q '^M2M_SANITIZE:BOOL=OFF' "$BUILD/CMakeCache.txt" ||
    die "$BUILD is a sanitizer build; use another BENCH_BUILD_DIR"
log=$(cmake --build "$BUILD" -j "${BENCH_JOBS:-2}" --target m2mtoken 2>&1) ||
    { printf '%s\n' "$log" >&2; die "build failed"; }

echo "TLS 1.2 $CIPHER handshakes/s, openssl s_server + s_time -new," \
    "$ROUNDS x ${SECONDS_PER}s per side, alternating; medians"
echo
echo "| module (backend) | key in the token (libp11 engine), hs/s |" \
    "key in a PEM file, hs/s | token / file |" \
    "server CPU us/hs, token / file |"
echo "|---|---:|---:|---:|---:|"
for b in "${BACKENDS[@]}"; do
	read -r tok file ratio cput cpuf < <(bash "${BASH_SOURCE[0]}" \
	    --one "$b") ||
	    die "$b: the measurement failed"
	case $b in
	softhsm2) name="SoftHSM2 directly (reference)" ;;
	*) name="libm2mtoken.so ($b)" ;;
	esac
	awk -v b="$name" -v t="$tok" -v f="$file" -v q="$ratio" \
	    -v ct="$cput" -v cf="$cpuf" 'BEGIN {
		printf "| %s | %.1f | %.1f | %.2fx | %d / %d |\n", b, t, f,
		    q, ct, cf }'
done

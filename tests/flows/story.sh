# shellcheck shell=bash
# The whole oneM2M story on loopback, as functions: scripts/demo tells it,
# tests/flows/test_story.sh runs it with kill -9 at every step.  Source
# after tests/integration/lib.sh (which gives M2M_TMP, swtpm, SoftHSM2 and
# the cleanup trap); then story_setup, story_start_all, and the steps.
#
# Three parties, each with its own store and hardware:
#   MEF      m2m-mef,   token "mef" on SoftHSM2 (backing token mef-backing)
#   gateway  m2mtokend, token "gw"  on SoftHSM2 (backing token gw-backing)
#            and m2m-assoc gateway, the gateway's TLS-PSK server
#   device   m2mtokend, token "dev" on the TPM (swtpm)
#            and m2m-assoc device
# Every server listens on 127.0.0.1 on a free port, every socket and file
# is under $M2M_TMP, and lib.sh's trap stops what m2m_defer registered.
#
# Environment in: M2M_BUILD, M2MTOKEN_MODULE, M2M_SRC; optional
# M2M_MEF, M2M_MTD (paths of m2m-mef and m2mtokend).
# Output: every step prints what it did through story_say (STORY_QUIET=1:
# nothing but failures).

S=                      # $M2M_TMP/story
FQDN=mef.example.com
GWID=gw.example.com     # the gateway's CSE-ID: enrolment target, TLS name
KPMID=kpm-dev-0001@$FQDN
ENROLEE=/in-cse.example.com/CAE-dev-0001
MEF_PORT='' MEF_PID='' GW_MTD_PID='' DEV_MTD_PID=''
KEID='' E2EID=''

MEF=${M2M_MEF:-$M2M_BUILD/daemon/mef/m2m-mef}
MTD=${M2M_MTD:-$M2M_BUILD/daemon/m2mtokend/m2mtokend}
ASSOC=$M2M_BUILD/demo/m2m-assoc
FACTORY=$M2M_BUILD/demo/m2m-factory
KEYCHECK=$M2M_BUILD/demo/m2m-keycheck
CLI=${M2M_CLI:-$M2M_BUILD/daemon/cli/m2mtoken}

story_say()
{
	[ "${STORY_QUIET:-0}" = 1 ] || printf '%s\n' "$*"
}

story_step()
{
	[ "${STORY_QUIET:-0}" = 1 ] || printf '\n== %s ==\n' "$*"
}

# party P CMD...: run CMD with P's token configuration (mef, gw, dev).
party()
{
	local p=$1

	shift
	M2MTOKEN_CONF=$S/$p/m2mtoken.conf "$@"
}

story_need()
{
	local b

	for b in "$MEF" "$MTD" "$CLI" "$ASSOC" "$FACTORY" "$KEYCHECK"; do
		[ -x "$b" ] || m2m_fail "not built: $b"
	done
}

# wait_line FILE PATTERN PID: PATTERN appears in FILE while PID lives.
wait_line()
{
	local i

	for ((i = 0; i < 200; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# The three token configurations, PINs, the MEF's and daemons' files.
story_setup()
{
	local p

	story_need
	S=$M2M_TMP/story
	mkdir -p "$S/mef" "$S/gw" "$S/dev"
	chmod 700 "$S" "$S/mef" "$S/gw" "$S/dev"
	for p in mef gw; do
		softhsm2-util --init-token --free --label "$p-backing" \
		    --pin "$M2MTOKEN_HSM_PIN" --so-pin "$M2M_SO_PIN" \
		    >/dev/null || m2m_fail "softhsm2-util: $p-backing"
		{
			printf '[store]\npath = %s\n\n' "$S/$p/store.db"
			printf '[backend]\ntype = hsm\n\n'
			printf '[hsm]\nmodule = %s\n' "$M2M_SOFTHSM_MODULE"
			printf 'token_label = %s-backing\n' "$p"
			printf 'pin = env:M2MTOKEN_HSM_PIN\n'
		} >"$S/$p/m2mtoken.conf"
	done
	# only the MEF's token may hand a derived Kpsa out (fetchCredentials)
	printf '\n[token]\ndeliver_derived = yes\n' >>"$S/mef/m2mtoken.conf"
	{
		printf '[store]\npath = %s\n\n' "$S/dev/store.db"
		printf '[backend]\ntype = tpm\n\n'
		printf '[hsm]\nmodule = %s\n' "$M2M_SOFTHSM_MODULE"
		printf 'token_label = m2m-backing\n'
		printf 'pin = env:M2MTOKEN_HSM_PIN\n\n'
		printf '[tpm]\ntcti = %s\n' "$M2M_TCTI"
	} >"$S/dev/m2mtoken.conf"
	for p in mef gw dev; do
		printf '%s-user-pin-%s\n' "$p" "$(openssl rand -hex 4)" \
		    >"$S/$p/pin"
		chmod 600 "$S/$p/pin"
	done
	# the two pre-provisioned secrets, as the factory would hold them
	openssl rand -hex 32 >"$S/kpm.hex"
	openssl rand -hex 32 >"$S/gwpsk.hex"
	chmod 600 "$S/kpm.hex" "$S/gwpsk.hex"
	MEF_PORT=$(m2m_free_port_pair)
	cat >"$S/mef/mef.conf" <<-CONF
	[mef]
	fqdn = $FQDN
	[listen]
	address = 127.0.0.1
	port = $MEF_PORT
	timeout = 10
	[token]
	module = $M2MTOKEN_MODULE
	config = $S/mef/m2mtoken.conf
	label = mef
	pin_file = $S/mef/pin
	[registry]
	path = $S/mef/registry.db
	CONF
	mtd_conf dev "[enrolee]" "kpm_id = $KPMID"
	mtd_conf gw "[target]" "id = $GWID"
}

# mtd_conf P LINES...: m2mtokend's configuration for party P.
mtd_conf()
{
	local p=$1

	shift
	{
		printf '[daemon]\nsocket = %s\n\n' "$S/$p/mtd.sock"
		printf '[token]\nmodule = %s\nconfig = %s\nlabel = %s\n' \
		    "$M2MTOKEN_MODULE" "$S/$p/m2mtoken.conf" "$p"
		printf 'pin_file = %s\n\n' "$S/$p/pin"
		printf '[mef]\nhost = 127.0.0.1\nport = %s\nfqdn = %s\n\n' \
		    "$MEF_PORT" "$FQDN"
		printf '%s\n' "$@"
		printf '\n[caller story]\nuid = %s\nmethods = *\nkeys = *\n' \
		    "$(id -u)"
	} >"$S/$p/m2mtokend.conf"
	# m2mtokend refuses configuration files others may read
	chmod 600 "$S/$p/m2mtokend.conf" "$S/$p/m2mtoken.conf"
}

# The factory: tokens made, the Kpm in the device and in the MEF, the
# gateway's PSK in the gateway and in the MEF; the enrolee registered.
story_provision()
{
	party mef "$FACTORY" --token mef --pin-file "$S/mef/pin" >/dev/null ||
	    m2m_fail "MEF token"
	party dev "$FACTORY" --token dev --pin-file "$S/dev/pin" \
	    --import kpm --label "$KPMID" --value-file "$S/kpm.hex" \
	    >"$S/factory.dev" || m2m_fail "device factory step"
	party gw "$FACTORY" --token gw --pin-file "$S/gw/pin" \
	    --import kpm --label "$GWID" --value-file "$S/gwpsk.hex" \
	    >"$S/factory.gw" || m2m_fail "gateway factory step"
	story_say "device  token 'dev' (TPM): $(tail -n 1 "$S/factory.dev")"
	story_say "gateway token 'gw' (HSM): $(tail -n 1 "$S/factory.gw")"
	mef_admin enrolee add --kpm-id "$KPMID" --enrolee-id "$ENROLEE" \
	    --target "$GWID" --lifetime 86400 --kpm-file "$S/kpm.hex" \
	    >/dev/null || m2m_fail "m2m-mef enrolee add"
	mef_admin target add --id "$GWID" --psk-file "$S/gwpsk.hex" \
	    >/dev/null || m2m_fail "m2m-mef target add"
	story_say "MEF     enrolee $KPMID -> EnroleeID $ENROLEE, allowed target $GWID"
	story_say "MEF     target  $GWID (TLS-PSK identity, PSK in the MEF's token)"
	story_say "        (the factory's copies of the Kpm and the target PSK stay in the temp"
	story_say "        dir only so that the last step can search every IPC reply for them)"
}

mef_admin()
{
	M2MTOKEN_CONF=$S/mef/m2mtoken.conf "$MEF" -c "$S/mef/mef.conf" "$@"
}

story_start_mef()
{
	story_kill MEF_PID
	: >"$S/mef/out"
	M2MTOKEN_CONF=$S/mef/m2mtoken.conf "$MEF" -c "$S/mef/mef.conf" \
	    >>"$S/mef/out" 2>>"$S/mef/log" </dev/null &
	MEF_PID=$!
	m2m_defer story_kill MEF_PID
	wait_line "$S/mef/out" "listening" "$MEF_PID" || {
		tail -n 20 "$S/mef/log" >&2
		m2m_fail "m2m-mef did not start"; }
}

# story_start_mtd dev|gw
story_start_mtd()
{
	local p=$1 pid i

	# never two daemons of one party: the first would outlive the trap
	if [ "$p" = dev ]; then story_kill DEV_MTD_PID; else
		story_kill GW_MTD_PID; fi
	rm -f "$S/$p/mtd.sock"
	M2MTOKEN_CONF=$S/$p/m2mtoken.conf "$MTD" -c "$S/$p/m2mtokend.conf" \
	    >>"$S/$p/mtd.log" 2>&1 </dev/null &
	pid=$!
	# shellcheck disable=SC2034 # read through ${!var} (story_kill)
	if [ "$p" = dev ]; then DEV_MTD_PID=$pid; else GW_MTD_PID=$pid; fi
	m2m_defer story_kill "$([ "$p" = dev ] && echo DEV_MTD_PID || echo GW_MTD_PID)"
	for ((i = 0; i < 200; i++)); do
		if [ -S "$S/$p/mtd.sock" ] && "$CLI" -s "$S/$p/mtd.sock" \
		    status >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	tail -n 20 "$S/$p/mtd.log" >&2
	m2m_fail "m2mtokend ($p) did not start"
}

# story_kill VAR: stop the process whose pid VAR holds (TERM, then KILL
# after 5 s): it must end with status 0 (a crash or an abort at exit, or a
# process that does not stop, fails the story; in a cleanup, through
# M2M_CHECK_FAILED).
story_kill()
{
	local pid=${!1}

	[ -n "$pid" ] || return 0
	printf -v "$1" '%s' ""
	m2m_stop "$pid"
	if [ "$M2M_STOP_RC" -ne 0 ]; then
		m2m_log "$1 (pid $pid) ended with status $M2M_STOP_RC after TERM"
		M2M_CHECK_FAILED=1
	fi
	if grep -l -a -e "Sanitizer" -e "runtime error" "$S"/*/*.log "$S"/mef/log \
	    >/dev/null 2>&1; then
		m2m_log "a sanitizer report in $(grep -l -a -e Sanitizer \
		    -e "runtime error" "$S"/*/*.log "$S"/mef/log | tr '\n' ' ')"
		M2M_CHECK_FAILED=1
	fi
}

# story_kill9 VAR: kill -9 the process whose pid VAR holds.
story_kill9()
{
	local pid=${!1}

	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	printf -v "$1" '%s' ""
}

story_start_all()
{
	story_start_mef
	story_say "MEF     m2m-mef listening on 127.0.0.1:$MEF_PORT (TLS 1.2 PSK only, SNI $FQDN)"
	story_start_mtd dev
	story_say "device  m2mtokend on $S/dev/mtd.sock (token on the TPM)"
	story_start_mtd gw
	story_say "gateway m2mtokend on $S/gw/mtd.sock (token on SoftHSM2)"
}

# ipc P METHOD [JSON]: one call to P's daemon through the m2mtoken CLI
# (m2mtoken --json call io.m2mtoken.METHOD JSON); the reply's parameters
# as JSON on stdout, or "ERROR <the CLI's line>" and the CLI's exit
# status.  Every reply is kept in $S/ipc.log for story_nokeys.
ipc()
{
	local params=${3:-'{}'} out rc=0

	out=$("$CLI" -s "$S/$1/mtd.sock" --json call "io.m2mtoken.$2" \
	    "$params" 2>"$S/cli.err") || rc=$?
	printf '%s\n' "$out" >>"$S/ipc.log"
	if [ $rc != 0 ]; then
		printf 'ERROR (exit %s) %s\n' "$rc" "$(head -n 1 "$S/cli.err")"
		return $rc
	fi
	printf '%s\n' "$out"
}

# json_get JSON KEY: the string member KEY of a reply (flat, as the CLI
# prints them), "" if there is none.
json_get()
{
	local re="\"$2\": *\"([^\"]*)\""

	if [[ $1 =~ $re ]]; then
		printf '%s\n' "${BASH_REMATCH[1]//\\\//\/}"
	fi
}

story_bootstrap()
{
	local out

	out=$(ipc dev Bootstrap "{\"targets\": [\"$GWID\"]}") ||
	    m2m_fail "device Bootstrap: $out"
	KEID=$(json_get "$out" keId)
	[ -n "$KEID" ] || m2m_fail "Bootstrap reply without keId: $out"
	story_say "device  Bootstrap: TLS-PSK to the MEF with KpmId, Ke exported in the token"
	story_say "        reply: $out"
}

story_derive()
{
	local out

	out=$(ipc dev DeriveKpsa "{\"key\": \"$KEID\", \"target\": \"$GWID\"}") ||
	    m2m_fail "device DeriveKpsa: $out"
	story_say "device  DeriveKpsa for $GWID: $out"
	out=$(ipc dev ProvisionEndToEnd "{\"key\": \"$KEID\", \"role\": \"kpsa\"}") ||
	    m2m_fail "device ProvisionEndToEnd: $out"
	E2EID=$(json_get "$out" e2eKeyId)
	[ -n "$E2EID" ] || m2m_fail "ProvisionEndToEnd without e2eKeyId: $out"
	story_say "device  ProvisionEndToEnd from Kpsa: $out"
}

# story_assoc: the gateway does not know KeId; the device connects.
story_assoc()
{
	local port gpid rc=0

	port=$(m2m_free_port_pair)
	: >"$S/assoc.gw"
	party gw "$ASSOC" gateway --port "$port" --sni "$GWID" --token gw \
	    --pin-file "$S/gw/pin" --daemon "$S/gw/mtd.sock" \
	    --mef-fqdn "$FQDN" >"$S/assoc.gw" 2>&1 &
	gpid=$!
	m2m_defer m2m_stop "$gpid"
	wait_line "$S/assoc.gw" listening "$gpid" || {
		cat "$S/assoc.gw" >&2; m2m_fail "m2m-assoc gateway"; }
	party dev "$ASSOC" device --port "$port" --sni "$GWID" --token dev \
	    --pin-file "$S/dev/pin" --identity "$KEID" >"$S/assoc.dev" 2>&1 ||
	    rc=1
	wait "$gpid" || rc=1
	if grep -q "Sanitizer" "$S/assoc.dev" "$S/assoc.gw"; then
		rc=1
	fi
	if [ "${STORY_QUIET:-0}" != 1 ] || [ $rc != 0 ]; then
		cat "$S/assoc.dev" "$S/assoc.gw"
	fi
	return $rc
}

story_gw_e2e()
{
	local out id

	out=$(ipc gw ProvisionEndToEnd "{\"key\": \"$KEID\", \"role\": \"kpsa\"}") ||
	    m2m_fail "gateway ProvisionEndToEnd: $out"
	id=$(json_get "$out" e2eKeyId)
	story_say "gateway ProvisionEndToEnd from the fetched Kpsa: $out"
	[ "$id" = "$E2EID" ] ||
	    m2m_fail "E2EKeyIds differ: device $E2EID, gateway $id"
	story_say "        same E2EKeyId on both sides: $id"
}

b64() { printf '%s' "$1" | base64 -w0; }

# party_name P: "device " or "gateway", for the story's lines.
party_name()
{
	case $1 in
	dev) printf 'device ' ;;
	gw) printf 'gateway' ;;
	*) printf '%s' "$1" ;;
	esac
}

# story_e2e FROM TO: a MIC and a sealed message from FROM, checked and
# opened by TO; then a changed message and a changed ciphertext refused.
story_e2e()
{
	local from=$1 to=$2 msg data out mic iv ct bad f t

	f=$(party_name "$from")
	t=$(party_name "$to")
	msg="{\"m2m:cin\":{\"con\":\"hello from $from\"}}"
	data=$(b64 "$msg")
	out=$(ipc "$from" Mic "{\"key\": \"$E2EID\", \"data\": \"$data\"}") ||
	    m2m_fail "$from Mic: $out"
	mic=$(json_get "$out" mic)
	story_say "$f Mic($msg): $out"
	out=$(ipc "$to" VerifyMic "{\"key\": \"$E2EID\", \"data\": \"$data\", \"mic\": \"$mic\"}") ||
	    m2m_fail "$to VerifyMic: $out"
	story_say "$t VerifyMic: $out"
	bad=$(b64 "${msg/hello/HELLO}")
	if out=$(ipc "$to" VerifyMic "{\"key\": \"$E2EID\", \"data\": \"$bad\", \"mic\": \"$mic\"}"); then
		m2m_fail "$to: a MIC verified on a changed message"
	fi
	story_say "$t VerifyMic on a changed message: $out"
	out=$(ipc "$from" Seal "{\"key\": \"$E2EID\", \"plaintext\": \"$data\"}") ||
	    m2m_fail "$from Seal: $out"
	iv=$(json_get "$out" iv)
	ct=$(json_get "$out" ciphertext)
	story_say "$f Seal: $out"
	out=$(ipc "$to" Open "{\"key\": \"$E2EID\", \"iv\": \"$iv\", \"ciphertext\": \"$ct\"}") ||
	    m2m_fail "$to Open: $out"
	[ "$(json_get "$out" plaintext | base64 -d)" = "$msg" ] ||
	    m2m_fail "$to Open gave another plaintext: $out"
	story_say "$t Open: $out  = $msg"
	# another first base64 digit: other bits in the first byte
	if [ "${ct:0:1}" = A ]; then bad=B${ct:1}; else bad=A${ct:1}; fi
	if out=$(ipc "$to" Open "{\"key\": \"$E2EID\", \"iv\": \"$iv\", \"ciphertext\": \"$bad\"}"); then
		m2m_fail "$to: a changed ciphertext opened"
	fi
	story_say "$t Open of a changed ciphertext: $out"
}

# story_nokeys: no key value comes out of any token, nor of any IPC reply.
story_nokeys()
{
	local p out

	for p in mef gw dev; do
		out=$(party "$p" "$KEYCHECK" --token "$p" --pin-file "$S/$p/pin") ||
		    { printf '%s\n' "$out"; m2m_fail "$p: a key value can be read"; }
		if [ "${STORY_QUIET:-0}" != 1 ]; then
			printf 'token %s (%s):\n' "$p" "$([ $p = dev ] && echo TPM || echo SoftHSM2)"
			sed 's/^key\t/  /' <<<"$out"
		fi
		grep -q '^keys [1-9]' <<<"$out" || m2m_fail "$p: no keys found"
	done
	# every IPC reply of the run: only these members, no secret's bytes
	python3 - "$S/ipc.log" "$S/kpm.hex" "$S/gwpsk.hex" <<'PY' || m2m_fail "an IPC reply carries something it must not"
import base64, json, sys
allowed = {"keId", "enroleeId", "lifetime", "targets", "e2e", "hash",
           "salt", "key", "role", "peer", "expires", "source", "e2eKeyId",
           "mic", "valid", "iv", "ciphertext", "plaintext", "reason",
           "detail", "status", "rsc", "token", "label", "manufacturer",
           "model", "state", "version", "enroleeKpmId", "targetId", "mef",
           "uptime", "connections", "calls", "keys"}
secrets = []
for path in sys.argv[2:]:
    h = open(path).read().strip()
    raw = bytes.fromhex(h)
    secrets += [h.lower(), h.upper(), base64.b64encode(raw).decode(), raw]
n = 0
def has_secret(blob):
    return any((s if isinstance(s, bytes) else s.encode()) in blob
               for s in secrets)
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k not in allowed:
                sys.exit("reply member %r is not in the protocol" % k)
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
    elif isinstance(v, str):
        # the value as text, and as the bytes its base64 would carry
        raw = b""
        try:
            raw = base64.b64decode(v, validate=True)
        except ValueError:
            pass
        if has_secret(v.encode()) or has_secret(raw):
            sys.exit("a provisioned secret appears in an IPC reply")
for line in open(sys.argv[1], "rb"):
    n += 1
    if has_secret(line):
        sys.exit("a provisioned secret appears in an IPC reply")
    if not line.strip():
        continue
    reply = json.loads(line)
    if "error" in reply:
        if set(reply) != {"error"}:
            sys.exit("an error reply with members %r" % sorted(reply))
        continue
    walk(reply)
print("%d IPC replies: no key material, no PIN, only protocol members" % n)
PY
	for p in mef gw dev; do
		if grep -q -F -f <(cat "$S/$p/pin") "$S/ipc.log"; then
			m2m_fail "a PIN appears in an IPC reply"
		fi
	done
}

# story_cert: the certificate-based bootstrap (TS-0003 8.3.2.2) once.  A
# test CA (its key in a file: the test's, not a party's); the MEF's EC key
# made in its token and its certificate, then a second listener ([cert]);
# the device's key made in its token by its daemon (m2mtoken keygen, csr,
# cert import), the enrolee registered by its certificate's DNS name, and
# Bootstrap with framework certificate.  Sets CERT_KEID.
story_cert()
{
	local out cport dev=dev-cert.example.com pin

	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$S/ca.key" -out "$S/ca.pem" -subj /CN=story-test-ca \
	    -days 2 2>/dev/null || m2m_fail "the test CA"
	story_kill MEF_PID
	# the PIN never on a command line (/proc/PID/cmdline): pkcs11-tool
	# reads it from the environment, libp11 from a file without newline
	pin=$(cat "$S/mef/pin")
	(umask 077 && printf '%s' "$pin" >"$S/mef/pin.raw")
	MEF_TOKEN_PIN=$pin party mef m2m_ext pkcs11-tool \
	    --module "$M2MTOKEN_MODULE" --token-label mef \
	    --login --pin env:MEF_TOKEN_PIN --keypairgen --key-type EC:prime256v1 \
	    --label mef-tls --id 01 >/dev/null 2>&1 ||
	    m2m_fail "the MEF's EC key pair"
	printf '%s\n' "openssl_conf = oi" "[oi]" "engines = es" "[es]" \
	    "pkcs11 = ps" "[ps]" "engine_id = pkcs11" \
	    "MODULE_PATH = $M2MTOKEN_MODULE" "init = 0" >"$S/engine.cnf"
	OPENSSL_CONF=$S/engine.cnf party mef m2m_ext openssl req -new -engine pkcs11 \
	    -keyform engine -key "pkcs11:token=mef;object=mef-tls;type=private;pin-source=file:$S/mef/pin.raw" \
	    -subj "/CN=$FQDN" -out "$S/mef.csr" >/dev/null 2>&1 ||
	    m2m_fail "the MEF's certificate request"
	story_ca_sign "$S/mef.csr" "$S/mef-cert.pem" "$FQDN"
	cport=$(m2m_free_port_pair)
	printf '%s\n' "[cert]" "port = $cport" \
	    "key = pkcs11:token=mef;object=mef-tls;type=private" \
	    "cert = $S/mef-cert.pem" "ca = $S/ca.pem" "map = san-dns" \
	    >>"$S/mef/mef.conf"
	story_start_mef
	story_say "MEF     EC key made in its token, certificate from the test CA; TLS 1.2 ECDHE-ECDSA listener on 127.0.0.1:$cport"
	out=$("$CLI" -s "$S/dev/mtd.sock" keygen --key dev-tls 2>&1) ||
	    m2m_fail "device keygen: $out"
	"$CLI" -s "$S/dev/mtd.sock" csr --key dev-tls --subject "/CN=$dev" \
	    --san-dns "$dev" >"$S/dev.csr" 2>"$S/cli.err" ||
	    m2m_fail "device csr: $(cat "$S/cli.err")"
	story_ca_sign "$S/dev.csr" "$S/dev-cert.pem" "$dev"
	out=$("$CLI" -s "$S/dev/mtd.sock" cert import "$S/dev-cert.pem" \
	    --key dev-tls 2>&1) || m2m_fail "device cert import: $out"
	story_say "device  m2mtoken keygen / csr / cert import: EC key made in the TPM, its certificate ($dev) next to it"
	mef_admin enrolee add --cert-id "$dev" --enrolee-id "$ENROLEE-cert" \
	    --target "$GWID" --lifetime 3600 >/dev/null ||
	    m2m_fail "m2m-mef enrolee add --cert-id"
	mtd_conf dev "[mef]" "cert_port = $cport" "[enrolee]" \
	    "kpm_id = $KPMID" "cert_key = dev-tls" "ca = $S/ca.pem"
	story_start_mtd dev
	out=$(ipc dev Bootstrap "{\"targets\": [\"$GWID\"], \"framework\": \"certificate\"}") ||
	    m2m_fail "device Bootstrap with certificates: $out"
	CERT_KEID=$(json_get "$out" keId)
	[ -n "$CERT_KEID" ] || m2m_fail "Bootstrap reply without keId: $out"
	[ "$(sqlite3 "$S/mef/registry.db" "SELECT kpm_id FROM kes WHERE ke_id = '$CERT_KEID'")" = "$dev" ] ||
	    m2m_fail "the MEF holds no KeId $CERT_KEID for $dev"
	story_say "device  Bootstrap (framework certificate): mutual TLS 1.2 ECDHE-ECDSA, both keys in tokens; KeId $CERT_KEID on both sides"
}

# story_ca_sign CSR OUT DNS: the test CA issues OUT for CSR (SAN DNS).
story_ca_sign()
{
	printf '%s\n' basicConstraints=CA:FALSE keyUsage=digitalSignature \
	    "subjectAltName=DNS:$3" >"$S/ext.cnf"
	openssl x509 -req -in "$1" -CA "$S/ca.pem" -CAkey "$S/ca.key" -days 2 \
	    -extfile "$S/ext.cnf" -out "$2" 2>/dev/null ||
	    m2m_fail "the test CA cannot sign $1"
}

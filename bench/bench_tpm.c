/*
 * bench_tpm: HMAC-SHA-256 over 64-byte messages (C_SignInit + C_Sign per
 * operation) on a TPM 2.0 (swtpm), through libm2mtoken ([backend] type =
 * tpm, once with [tpm] mode = exclusive, once with mode = shared) against
 * tpm2-pkcs11, in the same process, on the same swtpm, with the same key
 * value: a TPM keyedHash HMAC-SHA256 object in both.  Then the TPM commands
 * each one sends, per HMAC and (libm2mtoken) per E2E key set.
 *
 * The two modules never hold TPM objects at the same time (swtpm has 3
 * transient slots and no resource manager): every round of a side
 * initialises its module, logs in, finds the key, warms up with a few
 * untimed operations, runs for a fixed time and finalises the module
 * (which flushes what it loaded).  Rounds go libm2mtoken exclusive,
 * tpm2-pkcs11, libm2mtoken shared, then the other way round, and so on;
 * each libm2mtoken round is compared with the tpm2-pkcs11 round of the
 * same triple, and the table shows medians of rates and of these ratios.
 *
 * Counting: a small TCP proxy thread of this program sits between a module
 * and swtpm's server port.  tcti-swtpm sends each TPM command as raw bytes
 * (10-byte header with the command's size and code) over a new connection;
 * the proxy parses the client-to-TPM stream and counts the commands by
 * code.  The control port (locality) is relayed to swtpm's as is.  Modules
 * are pointed at the proxy only in the counting pass, which runs apart from
 * the timed rounds: the timed rounds talk to swtpm directly.
 *
 * Client-side crypto: the program also counts calls of OpenSSL's
 * OSSL_LIB_CTX_new() (the executable exports a wrapper, which the modules'
 * libraries bind to before libcrypto's; it only counts and calls the real
 * one).  libtss2-esys 3.2 creates a library context for each hash, HMAC or
 * KDF of an authorisation session, and with OpenSSL 3.0 the first fetch in
 * a new context costs about a millisecond: on Debian 12 that, not the TPM,
 * is what an operation through an encrypting session mostly costs.
 *
 * Environment (bench/run sets all of it):
 *   M2MTOKEN_MODULE           libm2mtoken.so
 *   BENCH_TPM_DIR             private directory: configurations, store
 *   BENCH_SWTPM_PORT          swtpm's server port (control port: + 1)
 *   BENCH_TPM_KEY_FILE        the 32-byte HMAC key, raw
 *   BENCH_TPM2_PKCS11_MODULE  libtpm2_pkcs11.so (default: Debian's path)
 *   BENCH_TPM2_PKCS11_TOKEN   its token label, initialised (bench-tpm2)
 *   BENCH_TPM2_PKCS11_PIN     its user PIN (bench-user-pin)
 *   BENCH_TPM2_PKCS11_KEY     label of the key imported there (bench-hmac)
 *   TPM2_PKCS11_STORE         tpm2-pkcs11's own store directory
 * Prints two markdown tables on stdout, progress on stderr; asserts
 * nothing about time.
 *
 * Just over 900 lines on purpose: the timed rounds, the counting proxy and
 * the OSSL_LIB_CTX_new() counter are the three parts of one measurement and
 * share its state (modules, key, swtpm ports); the swtpm and token set-up
 * they have in common with bench_ecdsa is in bench_common.c already.
 *
 * Usage: bench_tpm [--quick]
 */
#define _GNU_SOURCE	/* accept4 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MSG_LEN		64
#define GOAL_RATIO	1.5
#define WARM_OPS	16	/* untimed operations at the start of a round */
#define COUNT_OPS	20	/* HMACs in the counting pass */
#define COUNT_SETS	3	/* E2E sets in the counting pass */
#define TALLY_MAX	64	/* distinct command codes counted */
#define TPM_HDR_LEN	10	/* tag (2), size (4), command code (4) */
#define TPM_CMD_MAX	65536	/* larger is not a TPM command: stop parsing */
#define RELAY_BUF	8192
#define M2M_LABEL	"bench-tpm"
#define M2M_KEY_LABEL	"bench-tpm@mef.example.com"
#define KPSA_ID		"00112233445566778899aabbccddeeff@mef.example.com"
#define TPM2_PKCS11_DEFAULT \
	"/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so"

/* ---- OpenSSL library contexts made by the modules' libraries ------------ */

static unsigned long libctx_made;	/* atomic */

/*
 * OpenSSL's OSSL_LIB_CTX_new(), counted.  The real one is found in the
 * libcrypto that the modules loaded (RTLD_NOLOAD: never loads it itself).
 */
void	*OSSL_LIB_CTX_new(void) __attribute__((visibility("default")));

void *
OSSL_LIB_CTX_new(void)
{
	static void *(*real)(void);
	void *lib;

	__atomic_add_fetch(&libctx_made, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&real, __ATOMIC_ACQUIRE) == NULL) {
		*(void **)&real = dlsym(RTLD_NEXT, "OSSL_LIB_CTX_new");
		if (real == NULL && (lib = dlopen("libcrypto.so.3", RTLD_NOW |
		    RTLD_NOLOAD)) != NULL)
			*(void **)&real = dlsym(lib, "OSSL_LIB_CTX_new");
		if (real == NULL)
			bench_die("OSSL_LIB_CTX_new: libcrypto not found");
	}
	return real();
}

static unsigned long
libctx_count(void)
{
	return __atomic_load_n(&libctx_made, __ATOMIC_RELAXED);
}

/* ---- the counting proxy ------------------------------------------------- */

struct tally {
	struct {
		uint32_t	cc;
		unsigned long	n;
	}		 c[TALLY_MAX];
	size_t		 nc;
	unsigned long	 total;
	unsigned long	 unparsed;	/* streams that were not TPM commands */
	unsigned long	 conns;
};

struct listener {
	int		 fd;
	int		 upstream;	/* swtpm's port */
	int		 count;		/* parse and count (server port) */
	pthread_t	 th;
};

static pthread_mutex_t proxy_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t proxy_idle = PTHREAD_COND_INITIALIZER;
static struct tally proxy_tally;
static int proxy_active;	/* connections being relayed */

static const struct {
	uint32_t	 cc;
	const char	*name;
} cc_names[] = {
	{ 0x120, "EvictControl" }, { 0x131, "CreatePrimary" },
	{ 0x13e, "SequenceComplete" }, { 0x144, "Startup" },
	{ 0x151, "PolicySecret" }, { 0x153, "Create" }, { 0x155, "HMAC" },
	{ 0x156, "Import" }, { 0x157, "Load" }, { 0x15b, "HMAC_Start" },
	{ 0x15c, "SequenceUpdate" }, { 0x15d, "Sign" },
	{ 0x15e, "Unseal" }, { 0x161, "ContextLoad" },
	{ 0x162, "ContextSave" }, { 0x164, "EncryptDecrypt" },
	{ 0x165, "FlushContext" }, { 0x167, "LoadExternal" },
	{ 0x16b, "PolicyAuthValue" }, { 0x173, "ReadPublic" },
	{ 0x176, "StartAuthSession" }, { 0x177, "VerifySignature" },
	{ 0x17a, "GetCapability" }, { 0x17b, "GetRandom" },
	{ 0x17d, "Hash" }, { 0x180, "PolicyRestart" },
	{ 0x189, "PolicyGetDigest" }, { 0x18a, "TestParms" },
	{ 0x18c, "PolicyPassword" }, { 0x191, "CreateLoaded" },
	{ 0x193, "EncryptDecrypt2" },
};

static const char *
cc_name(uint32_t cc, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(cc_names) / sizeof(cc_names[0]); i++)
		if (cc_names[i].cc == cc)
			return cc_names[i].name;
	snprintf(buf, len, "CC_0x%03x", (unsigned)cc);
	return buf;
}

static void
tally_add(uint32_t cc)
{
	size_t i;

	pthread_mutex_lock(&proxy_lock);
	proxy_tally.total++;
	for (i = 0; i < proxy_tally.nc; i++)
		if (proxy_tally.c[i].cc == cc)
			break;
	if (i == proxy_tally.nc && i < TALLY_MAX) {
		proxy_tally.c[i].cc = cc;
		proxy_tally.c[i].n = 0;
		proxy_tally.nc++;
	}
	if (i < TALLY_MAX)
		proxy_tally.c[i].n++;
	pthread_mutex_unlock(&proxy_lock);
}

/* A copy of the counts so far. */
static void
tally_get(struct tally *ret)
{
	pthread_mutex_lock(&proxy_lock);
	*ret = proxy_tally;
	pthread_mutex_unlock(&proxy_lock);
}

/* The client-to-TPM stream of one connection, cut into commands. */
struct parser {
	uint8_t		hdr[TPM_HDR_LEN];
	size_t		have;	/* header bytes seen */
	uint32_t	skip;	/* body bytes of the current command left */
	int		broken;	/* not a TPM command stream: stop */
};

static void
parse(struct parser *p, const uint8_t *b, size_t n)
{
	uint32_t size, cc;
	unsigned tag;
	size_t k;

	while (n > 0 && !p->broken) {
		if (p->skip > 0) {
			k = n < p->skip ? n : p->skip;
			p->skip -= (uint32_t)k;
			b += k;
			n -= k;
			continue;
		}
		k = TPM_HDR_LEN - p->have;
		if (k > n)
			k = n;
		memcpy(p->hdr + p->have, b, k);
		p->have += k;
		b += k;
		n -= k;
		if (p->have < TPM_HDR_LEN)
			break;
		p->have = 0;
		tag = (unsigned)p->hdr[0] << 8 | p->hdr[1];
		size = (uint32_t)p->hdr[2] << 24 | (uint32_t)p->hdr[3] << 16 |
		    (uint32_t)p->hdr[4] << 8 | p->hdr[5];
		cc = (uint32_t)p->hdr[6] << 24 | (uint32_t)p->hdr[7] << 16 |
		    (uint32_t)p->hdr[8] << 8 | p->hdr[9];
		if ((tag != 0x8001 && tag != 0x8002) || size < TPM_HDR_LEN ||
		    size > TPM_CMD_MAX) {
			p->broken = 1;
			pthread_mutex_lock(&proxy_lock);
			proxy_tally.unparsed++;
			pthread_mutex_unlock(&proxy_lock);
			break;
		}
		tally_add(cc);
		p->skip = size - TPM_HDR_LEN;
	}
}

static int
write_all(int fd, const uint8_t *b, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, b, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
connect_lo(int port)
{
	struct sockaddr_in a;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

struct conn {
	int	fd;
	int	upstream;
	int	count;
};

/* Relay one connection both ways until both sides have closed. */
static void *
conn_main(void *arg)
{
	struct conn *c = arg;
	struct parser p;
	struct pollfd pf[2];
	uint8_t buf[RELAY_BUF];
	int ufd, open_in = 1, open_out = 1;
	ssize_t n;

	memset(&p, 0, sizeof(p));
	if ((ufd = connect_lo(c->upstream)) == -1) {
		fprintf(stderr, "bench_tpm: proxy: cannot reach swtpm: %s\n",
		    strerror(errno));
		goto out;
	}
	while (open_in || open_out) {
		pf[0].fd = open_in ? c->fd : -1;
		pf[0].events = POLLIN;
		pf[1].fd = open_out ? ufd : -1;
		pf[1].events = POLLIN;
		if (poll(pf, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents != 0) {
			n = read(c->fd, buf, sizeof(buf));
			if (n <= 0) {
				(void)shutdown(ufd, SHUT_WR);
				open_in = 0;
			} else {
				if (c->count)
					parse(&p, buf, (size_t)n);
				if (write_all(ufd, buf, (size_t)n) != 0)
					break;
			}
		}
		if (pf[1].revents != 0) {
			n = read(ufd, buf, sizeof(buf));
			if (n <= 0) {
				(void)shutdown(c->fd, SHUT_WR);
				open_out = 0;
			} else if (write_all(c->fd, buf, (size_t)n) != 0)
				break;
		}
	}
	close(ufd);
 out:
	close(c->fd);
	free(c);
	pthread_mutex_lock(&proxy_lock);
	proxy_active--;
	pthread_cond_broadcast(&proxy_idle);
	pthread_mutex_unlock(&proxy_lock);
	return NULL;
}

static void *
listen_main(void *arg)
{
	struct listener *l = arg;
	struct conn *c;
	pthread_attr_t at;
	pthread_t th;
	int fd;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	for (;;) {
		if ((fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;	/* shut down */
		}
		if ((c = calloc(1, sizeof(*c))) == NULL)
			bench_die("out of memory");
		c->fd = fd;
		c->upstream = l->upstream;
		c->count = l->count;
		pthread_mutex_lock(&proxy_lock);
		proxy_active++;
		if (l->count)
			proxy_tally.conns++;
		pthread_mutex_unlock(&proxy_lock);
		if (pthread_create(&th, &at, conn_main, c) != 0)
			bench_die("proxy: pthread_create failed");
	}
	pthread_attr_destroy(&at);
	return NULL;
}

static int
listen_lo(int port)
{
	struct sockaddr_in a;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)port);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    listen(fd, 64) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct listener proxy_l[2];	/* server port, control port */

/*
 * Listen on a free port pair P, P + 1 of 127.0.0.1 (below the ephemeral
 * range, which tcti-swtpm's connection per command fills) and relay to
 * swtpm's pair; returns P.
 */
static int
proxy_start(int swtpm_port)
{
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	int tries, port, i;

	for (tries = 0; tries < 1000; tries++) {
		port = 20000 + 2 * (int)(rand_r(&seed) % 6000);
		if (port == swtpm_port)
			continue;
		if ((proxy_l[0].fd = listen_lo(port)) == -1)
			continue;
		if ((proxy_l[1].fd = listen_lo(port + 1)) == -1) {
			close(proxy_l[0].fd);
			continue;
		}
		for (i = 0; i < 2; i++) {
			proxy_l[i].upstream = swtpm_port + i;
			proxy_l[i].count = i == 0;
			if (pthread_create(&proxy_l[i].th, NULL, listen_main,
			    &proxy_l[i]) != 0)
				bench_die("proxy: pthread_create failed");
		}
		return port;
	}
	bench_die("proxy: no free port pair on 127.0.0.1");
}

static void
proxy_stop(void)
{
	struct timespec ts;
	int i;

	for (i = 0; i < 2; i++) {
		(void)shutdown(proxy_l[i].fd, SHUT_RDWR);
		pthread_join(proxy_l[i].th, NULL);
		close(proxy_l[i].fd);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&proxy_lock);
	while (proxy_active > 0 &&
	    pthread_cond_timedwait(&proxy_idle, &proxy_lock, &ts) == 0)
		;
	pthread_mutex_unlock(&proxy_lock);
}

/* ---- the modules -------------------------------------------------------- */

struct side {
	const char		*name;
	struct bench_mod	*m;
	int			 m2m;	/* libm2mtoken (else tpm2-pkcs11) */
	const char		*conf[2]; /* m2m: direct, through the proxy */
	const char		*tcti[2]; /* tpm2-pkcs11: the same */
	const char		*token;	/* token label */
	const char		*pin;	/* tpm2-pkcs11: user PIN */
	const char		*key_label;
	CK_SESSION_HANDLE	 s;
	CK_OBJECT_HANDLE	 key;
	CK_OBJECT_HANDLE	 kpsa;	/* m2m */
};

static CK_BYTE msg[MSG_LEN];

static CK_OBJECT_HANDLE
find_label(struct bench_mod *m, CK_SESSION_HANDLE s, const char *label)
{
	CK_ATTRIBUTE t = { CKA_LABEL, (void *)label, strlen(label) };
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;

	bench_ck(m->f->C_FindObjectsInit(s, &t, 1), "C_FindObjectsInit");
	bench_ck(m->f->C_FindObjects(s, &h, 1, &n), "C_FindObjects");
	bench_ck(m->f->C_FindObjectsFinal(s), "C_FindObjectsFinal");
	if (n != 1)
		bench_die("%s: no object labelled %s", m->path, label);
	return h;
}

/* Initialise the side's module (direct or through the proxy), log in. */
static void
side_open(struct side *sd, int proxy)
{
	CK_SLOT_ID slot;

	if (sd->m2m) {
		if (setenv("M2MTOKEN_CONF", sd->conf[proxy], 1) != 0)
			bench_die("setenv failed");
	} else if (setenv("TPM2_PKCS11_TCTI", sd->tcti[proxy], 1) != 0)
		bench_die("setenv failed");
	bench_init(sd->m);
	slot = bench_slot(sd->m, sd->token);
	if (sd->m2m)
		bench_m2m_login(sd->m, slot, &sd->s);
	else
		bench_login(sd->m, slot, sd->pin, "tpm2-pkcs11", &sd->s);
	sd->key = find_label(sd->m, sd->s, sd->key_label);
	if (sd->m2m)
		sd->kpsa = find_label(sd->m, sd->s, KPSA_ID);
}

/* Log out and finalise: the module flushes what it loaded in the TPM. */
static void
side_close(struct side *sd)
{
	bench_ck(sd->m->f->C_Logout(sd->s), "C_Logout");
	bench_ck(sd->m->f->C_CloseSession(sd->s), "C_CloseSession");
	bench_ck(sd->m->f->C_Finalize(NULL), "C_Finalize");
}

static void
side_hmac(struct side *sd, CK_BYTE *mac)
{
	if (bench_hmac(sd->m, sd->s, sd->key, msg, sizeof(msg), mac) !=
	    CKR_OK)
		bench_die("%s: C_SignInit/C_Sign failed", sd->name);
}

/* One round: HMACs per second over about secs seconds, after a warm-up. */
static double
round_ops(struct side *sd, double secs)
{
	CK_BYTE mac[32];
	double t0, t;
	unsigned long n = 0, i;

	side_open(sd, 0);
	for (i = 0; i < WARM_OPS; i++)
		side_hmac(sd, mac);
	t0 = t = bench_now();
	while (t - t0 < secs) {
		for (i = 0; i < 16; i++) {
			msg[0] = (CK_BYTE)n;	/* a new message each time */
			side_hmac(sd, mac);
			n++;
		}
		t = bench_now();
	}
	side_close(sd);
	return (double)n / (t - t0);
}

/* One E2E key set through libm2mtoken, its five objects destroyed after. */
static void
e2e_set(struct side *sd)
{
	CK_MECHANISM master = { CKM_M2M_E2E_MASTER_SHA256, NULL, 0 };
	CK_MECHANISM expand = { CKM_M2M_E2E_EXPAND, NULL, 1 };
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE t = { CKA_TOKEN, &no, sizeof(no) };
	CK_OBJECT_HANDLE h[5];
	CK_BYTE n;
	int i;

	bench_ck(sd->m->f->C_DeriveKey(sd->s, &master, sd->kpsa, &t, 1,
	    &h[0]), "C_DeriveKey(E2E_MASTER_SHA256)");
	for (i = 1; i <= 4; i++) {
		n = (CK_BYTE)i;
		expand.pParameter = &n;
		bench_ck(sd->m->f->C_DeriveKey(sd->s, &expand, h[0], &t, 1,
		    &h[i]), "C_DeriveKey(E2E_EXPAND)");
	}
	for (i = 4; i >= 0; i--)
		bench_ck(sd->m->f->C_DestroyObject(sd->s, h[i]),
		    "C_DestroyObject");
}

/* ---- counting ----------------------------------------------------------- */

struct count {
	double		 per;		/* commands per operation */
	double		 libctx;	/* OpenSSL contexts per operation */
	char		 detail[512];	/* "HMAC 1, ContextLoad 2, ..." */
};

static const char *
num(double v, char *buf, size_t len)
{
	if (v == (double)(unsigned long)v)
		snprintf(buf, len, "%lu", (unsigned long)v);
	else
		snprintf(buf, len, "%.2f", v);
	return buf;
}

/* What was counted between a and b, per one of ops operations. */
static void
count_diff(const struct tally *a, const struct tally *b, int ops,
    struct count *ret)
{
	unsigned long n[TALLY_MAX], best;
	char name[16], v[32];
	size_t i, j, k, o = 0;
	int used[TALLY_MAX];

	if (b->unparsed != a->unparsed)
		bench_die("proxy: a stream was not TPM commands");
	ret->per = (double)(b->total - a->total) / ops;
	ret->detail[0] = '\0';
	for (i = 0; i < b->nc; i++) {
		n[i] = b->c[i].n;
		for (j = 0; j < a->nc; j++)
			if (a->c[j].cc == b->c[i].cc)
				n[i] -= a->c[j].n;
		used[i] = n[i] == 0;
	}
	for (;;) {		/* most frequent first */
		best = 0;
		k = b->nc;
		for (i = 0; i < b->nc; i++)
			if (!used[i] && n[i] > best) {
				best = n[i];
				k = i;
			}
		if (k == b->nc)
			break;
		used[k] = 1;
		o += (size_t)snprintf(ret->detail + o, sizeof(ret->detail) - o,
		    "%s%s %s", o ? ", " : "", cc_name(b->c[k].cc, name,
		    sizeof(name)), num((double)n[k] / ops, v, sizeof(v)));
		if (o >= sizeof(ret->detail))
			break;
	}
}

/* The commands of one HMAC (and for m2m of one E2E set), steady state. */
static void
count_side(struct side *sd, const CK_BYTE *want, struct count *hmac,
    struct count *e2e)
{
	struct tally a, b;
	CK_BYTE mac[32];
	unsigned long x;
	int i;

	side_open(sd, 1);
	for (i = 0; i < 3; i++)
		side_hmac(sd, mac);
	tally_get(&a);
	x = libctx_count();
	for (i = 0; i < COUNT_OPS; i++)
		side_hmac(sd, mac);
	hmac->libctx = (double)(libctx_count() - x) / COUNT_OPS;
	tally_get(&b);
	count_diff(&a, &b, COUNT_OPS, hmac);
	if (memcmp(mac, want, 32) != 0)
		bench_die("%s: another MAC than the other modules", sd->name);
	if (e2e != NULL) {
		e2e_set(sd);	/* warm-up: the Kpsa loaded, cached */
		tally_get(&a);
		x = libctx_count();
		for (i = 0; i < COUNT_SETS; i++)
			e2e_set(sd);
		e2e->libctx = (double)(libctx_count() - x) / COUNT_SETS;
		tally_get(&b);
		count_diff(&a, &b, COUNT_SETS, e2e);
	}
	side_close(sd);
	fprintf(stderr, "  %s: per HMAC %g (%s), %g OpenSSL contexts\n",
	    sd->name, hmac->per, hmac->detail, hmac->libctx);
	if (e2e != NULL)
		fprintf(stderr, "  %s: per E2E set %g (%s), %g OpenSSL "
		    "contexts\n", sd->name, e2e->per, e2e->detail,
		    e2e->libctx);
}

/* ---- set-up ------------------------------------------------------------- */

/* dir/name into buf[PATH_MAX]. */
static const char *
path_in(char *buf, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		bench_die("%s: path too long", dir);
	return buf;
}

static void
read_key(const char *path, CK_BYTE *key, size_t len)
{
	FILE *fp;
	int extra;

	if ((fp = fopen(path, "rb")) == NULL)
		bench_die("%s: %s", path, strerror(errno));
	if (fread(key, 1, len, fp) != len)
		bench_die("%s: shorter than %zu bytes", path, len);
	extra = fgetc(fp);
	fclose(fp);
	if (extra != EOF)
		bench_die("%s: longer than %zu bytes", path, len);
}

/*
 * libm2mtoken: a token, the HMAC key (role KE2E_MSG_AUTH) and a Kpsa, both
 * token objects; the MAC of msg into mac.
 */
static void
setup_m2m(struct side *sd, const CK_BYTE *key, CK_BYTE *mac)
{
	CK_BYTE kpsa[32];
	CK_OBJECT_HANDLE h;
	CK_SLOT_ID slot;

	bench_random(kpsa, sizeof(kpsa));
	if (setenv("M2MTOKEN_CONF", sd->conf[0], 1) != 0)
		bench_die("setenv failed");
	bench_init(sd->m);
	bench_m2m_token(sd->m, M2M_LABEL, &slot, &sd->s);
	bench_ck(bench_secret(sd->m, sd->s, CKK_GENERIC_SECRET,
	    CK_M2M_ROLE_KE2E_MSG_AUTH, 1, M2M_KEY_LABEL, key, 32, &sd->key),
	    "m2mtoken C_CreateObject (HMAC key)");
	bench_ck(bench_secret(sd->m, sd->s, CKK_GENERIC_SECRET,
	    CK_M2M_ROLE_KPSA, 1, KPSA_ID, kpsa, sizeof(kpsa), &h),
	    "m2mtoken C_CreateObject (Kpsa)");
	side_hmac(sd, mac);
	side_close(sd);
}

/*
 * tpm2-pkcs11: first see whether it can take the key value through
 * C_CreateObject (CKK_GENERIC_SECRET); then the MAC of msg with the key
 * bench/run imported (tpm2_ptool import --algorithm hmac:sha256).
 */
static void
setup_tpm2_pkcs11(struct side *sd, const CK_BYTE *key, CK_BYTE *mac)
{
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	side_open(sd, 0);
	rv = bench_secret(sd->m, sd->s, CKK_GENERIC_SECRET, 0, 0, NULL, key,
	    32, &h);
	fprintf(stderr, "bench_tpm: tpm2-pkcs11 C_CreateObject(CKO_SECRET_KEY, "
	    "CKK_GENERIC_SECRET, CKA_VALUE): %s%s\n", bench_ckr(rv),
	    rv == CKR_OK ? " (destroyed; the imported key is used)" :
	    "; using the key imported by tpm2_ptool");
	if (rv == CKR_OK)
		(void)sd->m->f->C_DestroyObject(sd->s, h);
	side_hmac(sd, mac);
	side_close(sd);
}

/* ---- main --------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	struct bench_mod m2m, p11;
	struct bench_opts o;
	struct side excl, shared, tp, *order[3];
	struct count ch[3], ce[2];
	CK_BYTE key[32], mac1[32], mac2[32];
	const char *dir;
	static char store[PATH_MAX], conf[4][PATH_MAX], tcti[2][64];
	char ca[32], cb[32], cc[32];
	double *vx, *vs, *vp, *rx, *rs, mx, ms, mp, ratx, rats;
	int swtpm, proxy, i, j;

	bench_opts(bench_quick_arg(argc, argv), &o);
	swtpm = bench_swtpm(&dir);
	if (getenv("TPM2_PKCS11_STORE") == NULL)
		bench_die("TPM2_PKCS11_STORE is not set (bench/run sets it)");
	read_key(bench_env("BENCH_TPM_KEY_FILE", ""), key, sizeof(key));
	bench_random(msg, sizeof(msg));
	proxy = proxy_start(swtpm);

	path_in(store, dir, "m2m-store.db");
	memset(&excl, 0, sizeof(excl));
	excl.name = "libm2mtoken mode = exclusive";
	excl.m = &m2m;
	excl.m2m = 1;
	excl.conf[0] = path_in(conf[0], dir, "exclusive.conf");
	excl.conf[1] = path_in(conf[1], dir, "exclusive-counting.conf");
	excl.token = M2M_LABEL;
	excl.key_label = M2M_KEY_LABEL;
	shared = excl;
	shared.name = "libm2mtoken mode = shared";
	shared.conf[0] = path_in(conf[2], dir, "shared.conf");
	shared.conf[1] = path_in(conf[3], dir, "shared-counting.conf");
	bench_tpm_conf(excl.conf[0], store, swtpm, "exclusive");
	bench_tpm_conf(excl.conf[1], store, proxy, "exclusive");
	bench_tpm_conf(shared.conf[0], store, swtpm, "shared");
	bench_tpm_conf(shared.conf[1], store, proxy, "shared");
	memset(&tp, 0, sizeof(tp));
	tp.name = "tpm2-pkcs11";
	tp.m = &p11;
	snprintf(tcti[0], sizeof(tcti[0]), "swtpm:host=127.0.0.1,port=%d",
	    swtpm);
	snprintf(tcti[1], sizeof(tcti[1]), "swtpm:host=127.0.0.1,port=%d",
	    proxy);
	tp.tcti[0] = tcti[0];
	tp.tcti[1] = tcti[1];
	tp.token = bench_env("BENCH_TPM2_PKCS11_TOKEN", "bench-tpm2");
	tp.pin = bench_env("BENCH_TPM2_PKCS11_PIN", "bench-user-pin");
	tp.key_label = bench_env("BENCH_TPM2_PKCS11_KEY", "bench-hmac");

	/* loaded once; each round initialises and finalises its module */
	if (setenv("M2MTOKEN_CONF", shared.conf[0], 1) != 0)
		bench_die("setenv failed");
	bench_load_final(getenv("M2MTOKEN_MODULE"), &m2m);
	if (setenv("TPM2_PKCS11_TCTI", tp.tcti[0], 1) != 0)
		bench_die("setenv failed");
	bench_load_final(bench_env("BENCH_TPM2_PKCS11_MODULE",
	    TPM2_PKCS11_DEFAULT), &p11);

	setup_m2m(&shared, key, mac1);
	setup_tpm2_pkcs11(&tp, key, mac2);
	if (memcmp(mac1, mac2, 32) != 0)
		bench_die("libm2mtoken and tpm2-pkcs11 disagree on the HMAC");

	fprintf(stderr, "bench_tpm: counting pass (through the proxy on "
	    "port %d)\n", proxy);
	count_side(&excl, mac1, &ch[0], &ce[0]);
	count_side(&shared, mac1, &ch[1], &ce[1]);
	count_side(&tp, mac1, &ch[2], NULL);
	proxy_stop();

	if ((vx = calloc((size_t)o.rounds, sizeof(*vx))) == NULL ||
	    (vs = calloc((size_t)o.rounds, sizeof(*vs))) == NULL ||
	    (vp = calloc((size_t)o.rounds, sizeof(*vp))) == NULL ||
	    (rx = calloc((size_t)o.rounds, sizeof(*rx))) == NULL ||
	    (rs = calloc((size_t)o.rounds, sizeof(*rs))) == NULL)
		bench_die("out of memory");
	fprintf(stderr, "bench_tpm: %d rounds of %.1f s per side, each "
	    "module initialised and finalised per round\n", o.rounds,
	    o.seconds);
	for (i = 0; i < o.rounds; i++) {
		/* exclusive, tpm2-pkcs11, shared; then the other way round */
		order[0] = i % 2 ? &shared : &excl;
		order[1] = &tp;
		order[2] = i % 2 ? &excl : &shared;
		for (j = 0; j < 3; j++) {
			if (order[j] == &excl)
				vx[i] = round_ops(&excl, o.seconds);
			else if (order[j] == &shared)
				vs[i] = round_ops(&shared, o.seconds);
			else
				vp[i] = round_ops(&tp, o.seconds);
		}
		rx[i] = vx[i] / vp[i];
		rs[i] = vs[i] / vp[i];
		fprintf(stderr, "  round %d: exclusive %.0f/s, tpm2-pkcs11 "
		    "%.0f/s, shared %.0f/s\n", i + 1, vx[i], vp[i], vs[i]);
	}
	mx = bench_median(vx, (size_t)o.rounds);
	ms = bench_median(vs, (size_t)o.rounds);
	mp = bench_median(vp, (size_t)o.rounds);
	ratx = bench_median(rx, (size_t)o.rounds);
	rats = bench_median(rs, (size_t)o.rounds);

	printf("| benchmark (swtpm, TPM keyedHash HMAC-SHA256 key) | "
	    "libm2mtoken | tpm2-pkcs11 | ratio | goal |\n");
	printf("|---|---|---|---|---|\n");
	printf("| HMAC-SHA-256, 64-byte messages, libm2mtoken [tpm] mode = "
	    "exclusive (ops/s, median of %d) | %s | %s | %.2fx | >= %.1fx: "
	    "%s |\n", o.rounds, bench_count(mx, ca, sizeof(ca)),
	    bench_count(mp, cb, sizeof(cb)), ratx, GOAL_RATIO,
	    ratx >= GOAL_RATIO ? "met" : "MISSED");
	printf("| HMAC-SHA-256, 64-byte messages, libm2mtoken [tpm] mode = "
	    "shared (ops/s, median of %d) | %s | %s | %.2fx | >= %.1fx: "
	    "%s |\n", o.rounds, bench_count(ms, ca, sizeof(ca)),
	    bench_count(mp, cb, sizeof(cb)), rats, GOAL_RATIO,
	    rats >= GOAL_RATIO ? "met" : "MISSED");
	printf("\n| TPM commands (counting pass, steady state) | libm2mtoken "
	    "exclusive | libm2mtoken shared | tpm2-pkcs11 |\n");
	printf("|---|---|---|---|\n");
	printf("| per HMAC (C_SignInit + C_Sign, mean of %d) | %s | %s | "
	    "%s |\n", COUNT_OPS, num(ch[0].per, ca, sizeof(ca)),
	    num(ch[1].per, cb, sizeof(cb)), num(ch[2].per, cc, sizeof(cc)));
	printf("| per HMAC, by command | %s | %s | %s |\n", ch[0].detail,
	    ch[1].detail, ch[2].detail);
	printf("| per E2E key set (master + 4 keys, session objects, mean "
	    "of %d) | %s | %s | n/a (no oneM2M KDFs) |\n", COUNT_SETS,
	    num(ce[0].per, ca, sizeof(ca)), num(ce[1].per, cb, sizeof(cb)));
	printf("| per E2E key set, by command | %s | %s | |\n",
	    ce[0].detail, ce[1].detail);
	printf("| OpenSSL library contexts made by the client per HMAC "
	    "(libtss2-esys session crypto) | %s | %s | %s |\n",
	    num(ch[0].libctx, ca, sizeof(ca)), num(ch[1].libctx, cb,
	    sizeof(cb)), num(ch[2].libctx, cc, sizeof(cc)));
	printf("| OpenSSL library contexts per E2E key set | %s | %s | |\n",
	    num(ce[0].libctx, ca, sizeof(ca)), num(ce[1].libctx, cb,
	    sizeof(cb)));
	fflush(stdout);

	free(vx);
	free(vs);
	free(vp);
	free(rx);
	free(rs);
	bench_unload(&p11);
	bench_unload(&m2m);
	return 0;
}

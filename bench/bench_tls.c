/*
 * bench_tls: TLS 1.2 PSK handshakes per second with the PSK in the token
 * (libm2mtls: the client's only, then both ends') against the same
 * handshake with the raw PSK in OpenSSL, client and server in one process
 * over a memory BIO pair, same run.  PSK-AES128-CBC-SHA256, extended
 * master secret, full handshakes (no resumption).
 *
 *   bash tests/integration/run_c.sh hsm BUILD/tls/bench_tls [SECONDS]
 *
 * (run_c.sh sets up a fresh SoftHSM2-backed token; argv[1] is the backend.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <m2mtoken/tls.h>
#include "tls_p11.h"
#include "tls_pair.h"

#define ID	"kpm-bench@mef.example.com"
#define CIPHER	"PSK-AES128-CBC-SHA256"
#define ROUNDS	30	/* interleaved rounds of the three variants */

static const uint8_t psk[32] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32
};

/* one full handshake; 0 on success */
static int
handshake(SSL_CTX *cc, SSL_CTX *sc)
{
	SSL *c, *s;

	if (tp_handshake(cc, sc, &c, &s) != 0)
		return -1;
	SSL_free(c);
	SSL_free(s);
	return 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* handshakes per second over secs seconds, or -1 */
static double
rate(SSL_CTX *cc, SSL_CTX *sc, double secs)
{
	double t0 = now(), t;
	long n = 0;

	do {
		if (handshake(cc, sc) != 0) {
			ERR_print_errors_fp(stderr);
			return -1;
		}
		n++;
	} while ((t = now()) - t0 < secs);
	return n / (t - t0);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	SSL_CTX *tc, *ts, *rc, *rs;
	double secs = argc > 2 ? strtod(argv[2], NULL) : 3.0, tok, raw, one;
	double r[3][ROUNDS], q1[ROUNDS], q2[ROUNDS], slice;
	size_t i, k;

	if (secs <= 0)
		secs = 3.0;
	if ((f = m2m_p11_load(NULL)) == NULL ||
	    m2m_p11_find_token(f, "m2m-bench", 1, "5678", "1234", &slot) !=
	    CKR_OK ||
	    f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &s) != CKR_OK ||
	    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"1234", 4) != CKR_OK ||
	    m2m_p11_import_psk(f, s, ID, CK_M2M_ROLE_KPM, psk, sizeof(psk),
	    NULL) != CKR_OK) {
		fprintf(stderr, "bench_tls: token setup failed\n");
		return 1;
	}
	tp_cfg.id = ID;
	tp_cfg.psk = psk;
	tp_cfg.psklen = sizeof(psk);
	tp_cfg.cipher = CIPHER;
	tp_cfg.token = "m2m-bench";
	tp_cfg.pin = "1234";
	tp_cfg.sni = "mef.example.com";
	tc = tp_token_ctx(0);
	ts = tp_token_ctx(1);
	rc = tp_raw_ctx(0);
	rs = tp_raw_ctx(1);
	if (tc == NULL || ts == NULL || rc == NULL || rs == NULL) {
		fprintf(stderr, "bench_tls: SSL_CTX setup failed\n");
		return 1;
	}
	/* warm up both paths (key cache, method fetches) */
	if (handshake(tc, ts) != 0 || handshake(rc, rs) != 0) {
		ERR_print_errors_fp(stderr);
		fprintf(stderr, "bench_tls: handshake failed\n");
		return 1;
	}
	/*
	 * The three variants interleaved: ROUNDS rounds of a slice each, in
	 * an order that rotates, so that load coming and going hits all
	 * three; each ratio is the median of its per-round ratios.
	 */
	slice = secs / ROUNDS;
	for (i = 0; i < ROUNDS; i++) {
		for (k = 0; k < 3; k++) {
			switch ((i + k) % 3) {
			case 0:
				r[0][i] = rate(rc, rs, slice);
				break;
			case 1:
				r[1][i] = rate(tc, rs, slice);
				break;
			default:
				r[2][i] = rate(tc, ts, slice);
				break;
			}
		}
		if (r[0][i] <= 0 || r[1][i] <= 0 || r[2][i] <= 0)
			return 1;
		q1[i] = r[1][i] / r[0][i];
		q2[i] = r[2][i] / r[0][i];
	}
	raw = median(r[0], ROUNDS);
	one = median(r[1], ROUNDS);
	tok = median(r[2], ROUNDS);
	printf("TLS 1.2 PSK (%s, EMS) full handshakes/s, client+server in "
	    "one process, %s backend, %.1f s each in %d interleaved rounds "
	    "(medians; ratios: medians of the per-round ratios):\n", CIPHER,
	    argc > 1 ? argv[1] : "?", secs, ROUNDS);
	printf("  raw PSK in OpenSSL      %8.0f /s\n", raw);
	printf("  PSK in token, client    %8.0f /s  (%.2fx)\n", one,
	    median(q1, ROUNDS));
	printf("  PSK in token, both ends %8.0f /s  (%.2fx)\n", tok,
	    median(q2, ROUNDS));
	printf("  token cost per master secret: %.0f us\n",
	    1e6 * (1 / one - 1 / raw));
	m2m_tls_ctx_free(tc);
	m2m_tls_ctx_free(ts);
	SSL_CTX_free(rc);
	SSL_CTX_free(rs);
	f->C_CloseSession(s);
	m2m_p11_unload();
	return 0;
}

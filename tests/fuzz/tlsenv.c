/* tests/fuzz: an m2m_tls context over the module.  See tlsenv.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2mtoken/tls.h>
#include "p11env.h"
#include "tls_int.h"
#include "tlsenv.h"

CK_FUNCTION_LIST_PTR	__wrap_m2m_p11_load(const char *path);
void	__wrap_m2m_p11_unload(void);

static SSL_CTX *ctx;
static struct m2m_tls *tls;

/* libm2mtls loads the module with dlopen; here it is linked in. */
CK_FUNCTION_LIST_PTR
__wrap_m2m_p11_load(const char *path)
{
	(void)path;
	return fuzz_p11_get()->f;
}

void
__wrap_m2m_p11_unload(void)
{
}

static void
ctx_free(void)
{
	m2m_tls_ctx_free(ctx);
}

/* see tlsenv.h */
struct m2m_tls *
fuzz_tls_get(void)
{
	struct m2m_tls_opts o;

	if (tls != NULL)
		return tls;
	memset(&o, 0, sizeof(o));
	o.slot = fuzz_p11_get()->slot;
	o.pin = FUZZ_USER_PIN;
	o.role = M2M_TLS_CLIENT;
	o.sni = "in.example.com";
	o.identity = FUZZ_KPSA_LABEL;
	if (m2m_tls_ctx_new(&o, &ctx) != 0 ||
	    (tls = m2m_tls_of(ctx)) == NULL) {
		fprintf(stderr, "fuzz tlsenv: no m2m_tls context\n");
		abort();
	}
	atexit(ctx_free);
	return tls;
}

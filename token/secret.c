/* m2mtoken: locked, wiped memory for secrets.  See secret.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "err.h"
#include "secret.h"

struct m2m_secret {
	uint8_t	*p;		/* page-aligned, capacity bytes */
	size_t	 len;
	size_t	 capacity;	/* multiple of the page size, >= 1 page */
};

static size_t
page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
}

/* see secret.h */
/*
 * Wiped single pages kept locked for the next secret: locking, marking and
 * unlocking a page costs three system calls, and a TLS handshake or an
 * HMAC through the token makes several secrets.  At most SPARE_MAX pages
 * (all zero, still mlock()ed and MADV_DONTDUMP) wait here; larger secrets
 * and any beyond that go back to the system as before.
 */
#define SPARE_MAX	32

static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static void *spare[SPARE_MAX];
static size_t nspare;

/* A zeroed, locked page from the spares, or NULL. */
static void *
spare_take(void)
{
	void *p = NULL;

	pthread_mutex_lock(&spare_lock);
	if (nspare > 0)
		p = spare[--nspare];
	pthread_mutex_unlock(&spare_lock);
	return p;
}

/* Keep a wiped page; 0 when full (the caller releases it). */
static int
spare_put(void *p)
{
	int kept = 0;

	pthread_mutex_lock(&spare_lock);
	if (nspare < SPARE_MAX) {
		spare[nspare++] = p;
		kept = 1;
	}
	pthread_mutex_unlock(&spare_lock);
	return kept;
}

/* Unloading the code (dlclose of the module): give the spares back. */
static void __attribute__((destructor))
spare_release(void)
{
	size_t ps = page_size();

	pthread_mutex_lock(&spare_lock);
	while (nspare > 0) {
		void *p = spare[--nspare];

#ifdef MADV_DODUMP
		(void)madvise(p, ps, MADV_DODUMP);
#endif
		(void)munlock(p, ps);
		free(p);
	}
	pthread_mutex_unlock(&spare_lock);
}

int
m2m_secret_new(size_t len, struct m2m_secret **ret)
{
	struct m2m_secret *s = NULL;
	size_t ps = page_size(), cap;
	void *p = NULL;

	if (ret == NULL || len > (64u << 20))
		return M2M_ERR_INVALID_ARGUMENT;
	cap = ((len + ps - 1) / ps) * ps;
	if (cap == 0)
		cap = ps;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return M2M_ERR_NO_MEMORY;
	if (cap == ps && (p = spare_take()) != NULL)
		goto done;	/* zero, locked, not dumped */
	if (posix_memalign(&p, ps, cap) != 0) {
		free(s);
		return M2M_ERR_NO_MEMORY;
	}
	memset(p, 0, cap);
	/* best effort: a low RLIMIT_MEMLOCK must not stop the token */
	(void)mlock(p, cap);
#ifdef MADV_DONTDUMP
	(void)madvise(p, cap, MADV_DONTDUMP);
#endif
 done:
	s->p = p;
	s->len = len;
	s->capacity = cap;
	*ret = s;
	return 0;
}

/* see secret.h */
int
m2m_secret_from(const void *p, size_t len, struct m2m_secret **ret)
{
	struct m2m_secret *s = NULL;
	int r;

	if ((p == NULL && len != 0) || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_secret_new(len, &s)) != 0)
		return r;
	if (len != 0)
		memcpy(s->p, p, len);
	*ret = s;
	return 0;
}

/* see secret.h */
uint8_t *
m2m_secret_data(const struct m2m_secret *s)
{
	return s->p;
}

/* see secret.h */
size_t
m2m_secret_len(const struct m2m_secret *s)
{
	return s->len;
}

/* see secret.h */
void
m2m_secret_truncate(struct m2m_secret *s, size_t len)
{
	if (s == NULL || len >= s->len)
		return;
	OPENSSL_cleanse(s->p + len, s->len - len);
	s->len = len;
}

/* see secret.h */
void
m2m_secret_free(struct m2m_secret *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s->p, s->capacity);
	if (s->capacity == page_size() && spare_put(s->p))
		goto done;
#ifdef MADV_DODUMP
	(void)madvise(s->p, s->capacity, MADV_DODUMP);
#endif
	(void)munlock(s->p, s->capacity);
	free(s->p);
 done:
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

/* see secret.h */
int
m2m_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

/* see secret.h */
void
m2m_wipe(void *p, size_t len)
{
	if (p != NULL && len != 0)
		OPENSSL_cleanse(p, len);
}

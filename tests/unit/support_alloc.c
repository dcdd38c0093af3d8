/* m2mtoken tests: allocation-failure injection.  See support_alloc.h. */
#define _GNU_SOURCE	/* reallocarray, strndup */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uninorm.h>

#include "support_alloc.h"

static int		tt_armed;	/* count allocations */
static unsigned long	tt_seen;	/* allocations since armed */
static unsigned long	tt_fail_at;	/* the one to fail (1-based) */
static int		tt_injected;	/* the failure happened */

/* 1 if this allocation is to fail. */
static int
tt_fail(void)
{
	if (!tt_armed)
		return 0;
	if (++tt_seen != tt_fail_at)
		return 0;
	tt_injected = 1;
	errno = ENOMEM;
	return 1;
}

/* see support_alloc.h */
void
m2m_alloc_arm(unsigned long n)
{
	tt_seen = 0;
	tt_fail_at = n;
	tt_injected = 0;
	tt_armed = 1;
}

/* see support_alloc.h */
int
m2m_alloc_disarm(void)
{
	tt_armed = 0;
	return tt_injected;
}

void	*__real_malloc(size_t);
void	*__real_calloc(size_t, size_t);
void	*__real_realloc(void *, size_t);
void	*__real_reallocarray(void *, size_t, size_t);
char	*__real_strdup(const char *);
char	*__real_strndup(const char *, size_t);
int	 __real_posix_memalign(void **, size_t, size_t);
uint8_t	*__real_u8_normalize(uninorm_t, const uint8_t *, size_t,
	    uint8_t *, size_t *);

void	*__wrap_malloc(size_t);
void	*__wrap_calloc(size_t, size_t);
void	*__wrap_realloc(void *, size_t);
void	*__wrap_reallocarray(void *, size_t, size_t);
char	*__wrap_strdup(const char *);
char	*__wrap_strndup(const char *, size_t);
int	 __wrap_posix_memalign(void **, size_t, size_t);
uint8_t	*__wrap_u8_normalize(uninorm_t, const uint8_t *, size_t,
	    uint8_t *, size_t *);

void *
__wrap_malloc(size_t n)
{
	return tt_fail() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
	return tt_fail() ? NULL : __real_calloc(n, m);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return tt_fail() ? NULL : __real_realloc(p, n);
}

void *
__wrap_reallocarray(void *p, size_t n, size_t m)
{
	return tt_fail() ? NULL : __real_reallocarray(p, n, m);
}

char *
__wrap_strdup(const char *s)
{
	return tt_fail() ? NULL : __real_strdup(s);
}

char *
__wrap_strndup(const char *s, size_t n)
{
	return tt_fail() ? NULL : __real_strndup(s, n);
}

int
__wrap_posix_memalign(void **p, size_t align, size_t n)
{
	return tt_fail() ? ENOMEM : __real_posix_memalign(p, align, n);
}

uint8_t *
__wrap_u8_normalize(uninorm_t nf, const uint8_t *s, size_t n, uint8_t *buf,
    size_t *ret_len)
{
	return tt_fail() ? NULL : __real_u8_normalize(nf, s, n, buf, ret_len);
}

/* see support_alloc.h */
unsigned long
m2m_alloc_seen(void)
{
	return tt_seen;
}

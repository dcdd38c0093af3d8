/*
 * Test helper: allocation-failure injection for the allocation-failure
 * loops (STYLE.md, after curl's torture tests).
 *
 * A test that uses it is linked with -Wl,--wrap for every allocator the
 * code linked statically into it calls (tests/CMakeLists.txt, M2M_ALLOC_WRAP):
 * malloc, calloc, realloc, reallocarray, strdup, strndup, posix_memalign
 * and libunistring's u8_normalize.  Shared libraries (SQLite, OpenSSL,
 * libunistring, a PKCS#11 HSM) allocate on their own; those allocations
 * are never failed.
 */
#ifndef M2M_SUPPORT_ALLOC_H
#define M2M_SUPPORT_ALLOC_H

/* Count allocations from now on and fail the nth (1-based) one. */
void		m2m_alloc_arm(unsigned long n);
/* Stop counting; 1 if the failure was injected. */
int		m2m_alloc_disarm(void);
/* Allocations counted since the last arm. */
unsigned long	m2m_alloc_seen(void);

#endif /* M2M_SUPPORT_ALLOC_H */

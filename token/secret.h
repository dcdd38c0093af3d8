/*
 * The one type for secret bytes on the heap.  Memory is page-aligned,
 * mlock()ed (best effort) and MADV_DONTDUMP; m2m_secret_free() wipes it
 * before unlocking and freeing, so no call site can forget.  A few wiped
 * pages stay locked for reuse (secret.c); they hold only zeros.
 */
#ifndef M2M_SECRET_H
#define M2M_SECRET_H

#include <stddef.h>
#include <stdint.h>

struct m2m_secret;

/* A zero-filled secret of len bytes (len may be 0).  0 or M2M_ERR_NO_MEMORY. */
int	m2m_secret_new(size_t len, struct m2m_secret **ret);
/* A secret holding a copy of p[0..len). */
int	m2m_secret_from(const void *p, size_t len, struct m2m_secret **ret);
/* The bytes (writable) and their length.  s must not be NULL. */
uint8_t	*m2m_secret_data(const struct m2m_secret *s);
size_t	m2m_secret_len(const struct m2m_secret *s);
/* Shorten to len <= current length; the tail is wiped. */
void	m2m_secret_truncate(struct m2m_secret *s, size_t len);
/* Wipe and free; NULL is accepted. */
void	m2m_secret_free(struct m2m_secret *s);
/* Constant-time equality of two byte strings of the same length: 1 or 0. */
int	m2m_ct_equal(const void *a, const void *b, size_t len);
/* Wipe a stack buffer (OPENSSL_cleanse). */
void	m2m_wipe(void *p, size_t len);

#endif /* M2M_SECRET_H */

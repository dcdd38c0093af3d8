/*
 * m2mtoken HSM backend: the LRU of loaded key handles.  See hsm_int.h.
 *
 * A fixed array of entries, a chained hash on the id (chains and the LRU
 * list are indices into the array), so a hit costs one hash, a short chain
 * walk and one blob comparison, and allocates nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hsm_int.h"
#include "log.h"

#define NIL	UINT32_MAX

struct entry {
	uint64_t		 id;
	CK_OBJECT_HANDLE	 handle;
	uint8_t			*blob;	/* M2M_HSM_BLOB_MAX bytes, or NULL */
	size_t			 bloblen;
	uint32_t		 prev;	/* towards the most recently used */
	uint32_t		 next;	/* towards the least recently used */
	uint32_t		 hnext;	/* hash chain, or free list */
};

struct m2m_hsm_cache {
	struct entry	*e;
	size_t		 cap;
	size_t		 count;
	uint32_t	*bucket;
	uint32_t	 mask;	/* number of buckets - 1 */
	uint32_t	 head;	/* most recently used */
	uint32_t	 tail;	/* least recently used */
	uint32_t	 free;	/* unused entries, through hnext */
};

static uint32_t
bucket_of(const struct m2m_hsm_cache *c, uint64_t id)
{
	/* Fibonacci hashing; ids are often small and sequential */
	return (uint32_t)((id * 0x9E3779B97F4A7C15ULL) >> 32) & c->mask;
}

/* see hsm_int.h */
int
m2m_hsm_cache_new(size_t capacity, struct m2m_hsm_cache **ret)
{
	struct m2m_hsm_cache *c = NULL;
	size_t nb = 1, i;
	int r = M2M_ERR_INTERNAL;

	if (ret == NULL || capacity == 0 || capacity > M2M_HSM_CACHE_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	while (nb < capacity * 2)
		nb <<= 1;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->e = calloc(capacity, sizeof(*c->e))) == NULL ||
	    (c->bucket = malloc(nb * sizeof(*c->bucket))) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	c->cap = capacity;
	c->mask = (uint32_t)(nb - 1);
	for (i = 0; i < nb; i++)
		c->bucket[i] = NIL;
	for (i = 0; i < capacity; i++)
		c->e[i].hnext = i + 1 < capacity ? (uint32_t)(i + 1) : NIL;
	c->free = 0;
	c->head = c->tail = NIL;
	*ret = c;
	c = NULL;	/* transferred */
	r = 0;
 out:
	m2m_hsm_cache_free(c);
	return r;
}

/* see hsm_int.h */
void
m2m_hsm_cache_free(struct m2m_hsm_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	if (c->e != NULL) {
		for (i = 0; i < c->cap; i++)
			free(c->e[i].blob);
	}
	free(c->e);
	free(c->bucket);
	free(c);
}

static uint32_t
find(const struct m2m_hsm_cache *c, uint64_t id)
{
	uint32_t i;

	for (i = c->bucket[bucket_of(c, id)]; i != NIL; i = c->e[i].hnext) {
		if (c->e[i].id == id)
			return i;
	}
	return NIL;
}

static void
lru_unlink(struct m2m_hsm_cache *c, uint32_t i)
{
	struct entry *e = &c->e[i];

	if (e->prev != NIL)
		c->e[e->prev].next = e->next;
	else
		c->head = e->next;
	if (e->next != NIL)
		c->e[e->next].prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NIL;
}

static void
lru_push_head(struct m2m_hsm_cache *c, uint32_t i)
{
	struct entry *e = &c->e[i];

	e->prev = NIL;
	e->next = c->head;
	if (c->head != NIL)
		c->e[c->head].prev = i;
	c->head = i;
	if (c->tail == NIL)
		c->tail = i;
}

static void
hash_unlink(struct m2m_hsm_cache *c, uint32_t i)
{
	uint32_t *p;

	for (p = &c->bucket[bucket_of(c, c->e[i].id)]; *p != NIL;
	    p = &c->e[*p].hnext) {
		if (*p == i) {
			*p = c->e[i].hnext;
			return;
		}
	}
	(void)M2M_NEVER(1);	/* an entry in use is always in its chain */
}

/* Take entry i out of the hash and the LRU list, onto the free list. */
static CK_OBJECT_HANDLE
drop(struct m2m_hsm_cache *c, uint32_t i)
{
	struct entry *e = &c->e[i];
	CK_OBJECT_HANDLE h = e->handle;

	hash_unlink(c, i);
	lru_unlink(c, i);
	e->id = 0;
	e->handle = CK_INVALID_HANDLE;
	e->bloblen = 0;		/* the buffer is kept for reuse */
	e->hnext = c->free;
	c->free = i;
	c->count--;
	return h;
}

/* see hsm_int.h */
int
m2m_hsm_cache_get(struct m2m_hsm_cache *c, uint64_t id, const uint8_t *blob,
    size_t bloblen, CK_OBJECT_HANDLE *ret_handle)
{
	uint32_t i;

	if (id == 0 || (i = find(c, id)) == NIL)
		return M2M_ERR_NOT_FOUND;
	/* blobs are wrapped, not secret: a plain comparison is fine */
	if (c->e[i].bloblen != bloblen ||
	    memcmp(c->e[i].blob, blob, bloblen) != 0)
		return M2M_ERR_NOT_FOUND;
	if (c->head != i) {
		lru_unlink(c, i);
		lru_push_head(c, i);
	}
	*ret_handle = c->e[i].handle;
	return 0;
}

/* see hsm_int.h */
int
m2m_hsm_cache_put(struct m2m_hsm_cache *c, uint64_t id, const uint8_t *blob,
    size_t bloblen, CK_OBJECT_HANDLE handle, CK_OBJECT_HANDLE *ret_drop)
{
	CK_OBJECT_HANDLE dropped = CK_INVALID_HANDLE;
	uint32_t i, b;

	if (c == NULL || id == 0 || blob == NULL || bloblen == 0 ||
	    bloblen > M2M_HSM_BLOB_MAX || handle == CK_INVALID_HANDLE ||
	    ret_drop == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((i = find(c, id)) != NIL) {
		/* the same id with another blob: replace in place */
		dropped = c->e[i].handle;
		lru_unlink(c, i);
	} else {
		if (c->free == NIL) {
			if (M2M_NEVER(c->tail == NIL))
				return M2M_ERR_INTERNAL;
			/* the victim's buffer stays for the new entry */
			dropped = drop(c, c->tail);
		}
		i = c->free;
		/* an entry's buffer is allocated once, on its first use */
		if (c->e[i].blob == NULL &&
		    (c->e[i].blob = malloc(M2M_HSM_BLOB_MAX)) == NULL)
			return M2M_ERR_NO_MEMORY;
		c->free = c->e[i].hnext;
		c->e[i].id = id;
		b = bucket_of(c, id);
		c->e[i].hnext = c->bucket[b];
		c->bucket[b] = i;
		c->count++;
	}
	memcpy(c->e[i].blob, blob, bloblen);
	c->e[i].bloblen = bloblen;
	c->e[i].handle = handle;
	lru_push_head(c, i);
	*ret_drop = dropped;
	return 0;
}

/* see hsm_int.h */
CK_OBJECT_HANDLE
m2m_hsm_cache_remove(struct m2m_hsm_cache *c, uint64_t id)
{
	uint32_t i;

	if (c == NULL || id == 0 || (i = find(c, id)) == NIL)
		return CK_INVALID_HANDLE;
	return drop(c, i);
}

/* see hsm_int.h */
CK_OBJECT_HANDLE
m2m_hsm_cache_pop(struct m2m_hsm_cache *c)
{
	if (c == NULL || c->tail == NIL)
		return CK_INVALID_HANDLE;
	return drop(c, c->tail);
}

/* see hsm_int.h */
void
m2m_hsm_cache_clear(struct m2m_hsm_cache *c)
{
	if (c == NULL)
		return;
	while (c->tail != NIL)
		(void)drop(c, c->tail);
}

/* see hsm_int.h */
size_t
m2m_hsm_cache_count(const struct m2m_hsm_cache *c)
{
	return c == NULL ? 0 : c->count;
}

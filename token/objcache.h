/*
 * The token-object cache of a process: a direct-mapped table of objects
 * read from the store, each tagged with the store generation seen before
 * it was read (m2m_store_generation() in store.h).  An entry is used only
 * while the generation is unchanged, so any write by any process, this
 * one included, makes every entry stale; between writes an operation on a
 * token key costs a memory load instead of an SQL read.  Entries are
 * shared, read-only references (m2m_object_ref).  Not thread safe: the
 * core's caller serialises (core.h).  docs/architecture.md, objects and
 * handles, has the why.
 */
#ifndef M2M_OBJCACHE_H
#define M2M_OBJCACHE_H

#include <stdint.h>

struct m2m_object;
struct m2m_store;

#define M2M_OBJCACHE_SLOTS	256

/* Embedded in its owner (zeroed: empty); the fields are objcache.c's. */
struct m2m_objcache {
	struct {
		struct m2m_object	*o;
		uint64_t		 gen;
	} slot[M2M_OBJCACHE_SLOTS];
};

/*
 * Token object id of token_id: the cached one when current, else read
 * from st (m2m_store_object_get: its errors) and cached.  *ret is a new
 * shared reference: never change it, release it with m2m_object_free().
 */
int	m2m_objcache_get(struct m2m_objcache *c, struct m2m_store *st,
	    uint64_t token_id, uint64_t id, struct m2m_object **ret);
/* Forget every entry. */
void	m2m_objcache_drop(struct m2m_objcache *c);

#endif /* M2M_OBJCACHE_H */

/* m2mtoken: the token-object cache.  See objcache.h. */
#include "objcache.h"
#include "object.h"
#include "store.h"

/* see objcache.h */
int
m2m_objcache_get(struct m2m_objcache *c, struct m2m_store *st,
    uint64_t token_id, uint64_t id, struct m2m_object **ret)
{
	struct m2m_object *o = NULL;
	size_t i = (size_t)(id % M2M_OBJCACHE_SLOTS);
	uint64_t gen;
	int r, cacheable;

	cacheable = m2m_store_generation(st, &gen) == 0;
	if (cacheable && c->slot[i].o != NULL && c->slot[i].gen == gen &&
	    c->slot[i].o->id == id && c->slot[i].o->token_id == token_id) {
		*ret = m2m_object_ref(c->slot[i].o);
		return 0;
	}
	if ((r = m2m_store_object_get(st, token_id, id, &o)) != 0)
		return r;
	if (cacheable) {
		m2m_object_free(c->slot[i].o);
		c->slot[i].o = m2m_object_ref(o);
		c->slot[i].gen = gen;
	}
	*ret = o;
	return 0;
}

/* see objcache.h */
void
m2m_objcache_drop(struct m2m_objcache *c)
{
	size_t i;

	for (i = 0; i < M2M_OBJCACHE_SLOTS; i++) {
		m2m_object_free(c->slot[i].o);
		c->slot[i].o = NULL;
	}
}

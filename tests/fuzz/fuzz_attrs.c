/*
 * fuzz_attrs: the store's attribute-list decoder, m2m_object_attrs_decode()
 * (token/object.c), which reads the objects.attrs BLOB of the SQLite store
 * (a store file is outside data: copied, restored, or written by another
 * version).  Checks beyond memory and UB errors: a success gives a list
 * within the named maxima, without duplicates, that encodes back to the
 * same bytes; a failure is M2M_ERR_STORE_CORRUPT and leaves the object as
 * it was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "err.h"
#include "object.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t keep[] = "kept";
	struct m2m_object *o = NULL;
	const struct m2m_attr *a;
	uint8_t *enc = NULL;
	size_t enclen = 0, i, j;
	int r;

	if (m2m_object_new(&o) != 0)
		abort();
	/* a list that must survive a failed decode */
	if (m2m_object_attr_set(o, CKA_LABEL, keep, 4) != 0)
		abort();
	r = m2m_object_attrs_decode(o, size == 0 ? NULL : data, size);
	if (r != 0) {
		if (r != M2M_ERR_STORE_CORRUPT && r != M2M_ERR_NO_MEMORY)
			abort();
		a = m2m_object_attr(o, CKA_LABEL);
		if (o->nattrs != 1 || a == NULL || a->len != 4 ||
		    memcmp(a->val, keep, 4) != 0)
			abort();
		goto out;
	}
	if (o->nattrs > M2M_ATTRS_MAX * 2)
		abort();
	for (i = 0; i < o->nattrs; i++) {
		if (o->attrs[i].len > M2M_ATTR_MAX_LEN ||
		    (o->attrs[i].len != 0 && o->attrs[i].val == NULL))
			abort();
		for (j = 0; j < i; j++)
			if (o->attrs[j].type == o->attrs[i].type)
				abort();
	}
	if (m2m_object_attrs_encode(o, &enc, &enclen) != 0)
		abort();
	if (enclen != size || (size != 0 && memcmp(enc, data, size) != 0))
		abort();
 out:
	free(enc);
	m2m_object_free(o);
	return 0;
}

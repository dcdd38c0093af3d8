/*
 * fuzz_mef_body: the bootstrap request body parser of m2m-mef,
 * mef_parse_bootstrap() (daemon/mef/parse.c: json-c with a depth limit
 * and strict UTF-8, the one member Targets, 1 to 16 distinct IDs).  The
 * input is the body, not NUL-terminated (a heap copy of exactly its size,
 * so any read past it is the parser's).
 * Beyond memory and UB errors it checks the contract of parse.h:
 *   - a failure is MEF_ERR_INVALID with a fixed, non-empty reason without
 *     control bytes, and leaves the output as it was;
 *   - a success holds 1..16 distinct valid IDs, and the same targets
 *     written back as {"Targets": [...]} parse to the same list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mef_targets t, u;
	struct json_object *o, *a;
	const char *why = NULL, *s;
	char *copy;
	size_t i, j;
	int r;

	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	memset(&t, 0xa5, sizeof(t));
	r = mef_parse_bootstrap(copy, size, &t, &why);
	if (r == MEF_ERR_INVALID) {
		if (why == NULL || *why == '\0')
			abort();
		for (s = why; *s != '\0'; s++)
			if ((unsigned char)*s < 0x20)
				abort();
		for (i = 0; i < sizeof(t); i++)
			if (((unsigned char *)&t)[i] != 0xa5)
				abort();
	} else if (r == 0) {
		if (t.n < 1 || t.n > MEF_TARGETS_MAX)
			abort();
		o = json_object_new_object();
		a = json_object_new_array();
		json_object_object_add(o, "Targets", a);
		for (i = 0; i < t.n; i++) {
			if (!mef_id_valid(t.id[i], strlen(t.id[i])))
				abort();
			for (j = 0; j < i; j++)
				if (strcmp(t.id[i], t.id[j]) == 0)
					abort();
			json_object_array_add(a,
			    json_object_new_string(t.id[i]));
		}
		s = json_object_to_json_string(o);
		if (mef_parse_bootstrap(s, strlen(s), &u, &why) != 0 ||
		    u.n != t.n)
			abort();
		for (i = 0; i < t.n; i++)
			if (strcmp(t.id[i], u.id[i]) != 0)
				abort();
		json_object_put(o);
	} else if (r != MEF_ERR_NOMEM)
		abort();
	free(copy);
	return 0;
}

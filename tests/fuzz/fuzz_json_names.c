/*
 * fuzz_json_names: m2m_ipc_names_once() (daemon/common/ipc.c), the scan
 * m2mtokend runs over a MEF's answer before json-c parses it, so that
 * json-c never frees a first "Credential" member unwiped while it parses
 * a second one.  The input is the text; the first byte also picks the
 * limit of names (0..M2M_IPC_NAMES_MAX + 2, to cross the cap).  Beyond
 * memory and UB errors it checks the scan's contract against json-c:
 *   - it answers 0 or 1, and the same for the same text;
 *   - a text it passes that json-c (strict, as m2mtokend parses MEF
 *     answers) reads whole as an object has no member twice (as many
 *     members as colons at depth 1: m2m_ipc_top_members), none whose
 *     name needed an escape, and at most the limit of members.
 */
#define _GNU_SOURCE	/* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ipc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok;
	struct json_object *o;
	const char *text;
	char *copy;
	size_t max, len, members;
	int r;

	if (size < 1)
		return 0;
	max = data[0] % (M2M_IPC_NAMES_MAX + 3);
	len = size - 1;
	/* an exact-size copy, so ASan sees any read past len */
	if ((copy = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(copy, data + 1, len);
	text = copy;
	r = m2m_ipc_names_once(text, len, max);
	if ((r != 0 && r != 1) || m2m_ipc_names_once(text, len, max) != r)
		abort();
	if (r == 1 && (tok = json_tokener_new_ex(8)) != NULL) {
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
		    JSON_TOKENER_VALIDATE_UTF8);
		o = json_tokener_parse_ex(tok, text, (int)len);
		if (o != NULL && json_tokener_get_parse_end(tok) == len &&
		    json_object_is_type(o, json_type_object)) {
			members = m2m_ipc_top_members(text, len);
			if (members != (size_t)json_object_object_length(o) ||
			    members > max || members > M2M_IPC_NAMES_MAX)
				abort();
			json_object_object_foreach(o, key, val) {
				(void)val;
				/* a plain name's text is its value */
				if (memmem(text, len, key, strlen(key)) == NULL)
					abort();
			}
		}
		json_object_put(o);
		json_tokener_free(tok);
	}
	free(copy);
	return 0;
}

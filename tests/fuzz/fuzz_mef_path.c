/*
 * fuzz_mef_path: the fetchCredentials path parser of m2m-mef,
 * mef_parse_fetch_path() (daemon/mef/parse.c), with the request-target
 * as evhttp hands it over (a NUL-terminated string: the input up to its
 * first NUL, in a heap copy of exactly that size).
 * Beyond memory and UB errors it checks the contract of parse.h:
 *   - MEF_ERR_NOTFOUND exactly when the path is not "/fetchCredentials"
 *     followed by '/', '?' or the end;
 *   - a failure leaves the output as it was and gives a fixed reason;
 *   - a success is a lower-case KeId of 32 hex digits, '@' and a valid
 *     FQDN, a SUID of 0 or 10..99, and the path rebuilt from them parses
 *     to the same result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mef_fetch_path p, q;
	static char rebuilt[MEF_KEID_MAX + 64];
	const char *why = NULL, *pre = "/fetchCredentials";
	size_t n = strnlen((const char *)data, size), i, pl = strlen(pre);
	char *uri;
	int r, under;

	if ((uri = malloc(n + 1)) == NULL)
		return 0;
	memcpy(uri, data, n);
	uri[n] = '\0';
	under = strncmp(uri, pre, pl) == 0 &&
	    (uri[pl] == '\0' || uri[pl] == '/' || uri[pl] == '?');
	memset(&p, 0xa5, sizeof(p));
	r = mef_parse_fetch_path(uri, &p, &why);
	if ((r == MEF_ERR_NOTFOUND) != !under)
		abort();
	if (r != 0) {
		if (r != MEF_ERR_NOTFOUND && r != MEF_ERR_INVALID)
			abort();
		if (r == MEF_ERR_INVALID && (why == NULL || *why == '\0'))
			abort();
		for (i = 0; i < sizeof(p); i++)
			if (((unsigned char *)&p)[i] != 0xa5)
				abort();
	} else {
		if (p.suid != 0 && (p.suid < 10 || p.suid > 99))
			abort();
		if (strlen(p.ke_id) < MEF_KEID_HEX + 2 ||
		    p.ke_id[MEF_KEID_HEX] != '@' ||
		    !mef_fqdn_valid(p.ke_id + MEF_KEID_HEX + 1))
			abort();
		for (i = 0; p.ke_id[i] != '\0'; i++)
			if (p.ke_id[i] >= 'A' && p.ke_id[i] <= 'Z')
				abort();
		for (i = 0; i < MEF_KEID_HEX; i++)
			if (!strchr("0123456789abcdef", p.ke_id[i]))
				abort();
		if (p.suid != 0)
			snprintf(rebuilt, sizeof(rebuilt), "%s/%s/%u", pre,
			    p.ke_id, p.suid);
		else
			snprintf(rebuilt, sizeof(rebuilt), "%s/%s", pre,
			    p.ke_id);
		if (mef_parse_fetch_path(rebuilt, &q, &why) != 0 ||
		    strcmp(q.ke_id, p.ke_id) != 0 || q.suid != p.suid)
			abort();
	}
	free(uri);
	return 0;
}

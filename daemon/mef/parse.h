/*
 * m2m-mef: the parsers of what a peer sends (docs/mef-http.md) and of
 * identifiers an operator gives.  No allocation that outlives a call; no
 * secret passes through here.  Each failure comes with a fixed English
 * reason (static, never holding input bytes) for the reply's ErrorString.
 */
#ifndef M2M_MEF_PARSE_H
#define M2M_MEF_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mef.h"

/*
 * Whether s[0..len) is a valid ID (KpmId, EnroleeID, target ID): 1 to
 * MEF_ID_MAX bytes of well-formed UTF-8 (no overlong form, no surrogate)
 * without a C0/C1 control character or DEL.  1 or 0.
 */
int	mef_id_valid(const char *s, size_t len);

/* Whether s is a host name: 1..253 of [A-Za-z0-9.-], no empty label. */
int	mef_fqdn_valid(const char *s);

/*
 * Parse a bootstrap request body (body[0..len), not NUL-terminated):
 * exactly one JSON object whose only member is "Targets", an array of 1 to
 * MEF_TARGETS_MAX distinct valid IDs; white space only after it.  On
 * success fills *ret and returns 0; else MEF_ERR_INVALID with *ret_why set
 * (MEF_ERR_NOMEM: out of memory).
 */
int	mef_parse_bootstrap(const char *body, size_t len,
	    struct mef_targets *ret, const char **ret_why);

struct mef_fetch_path {
	char		ke_id[MEF_KEID_MAX + 1];	/* lower case */
	unsigned int	suid;		/* 0: none (Kpsa) */
};

/*
 * Parse a request-target (the raw URI of the request line) of
 * fetchCredentials: "/fetchCredentials/<KeId>" or
 * "/fetchCredentials/<KeId>/<SUID>", KeId = 32 hex digits "@" FQDN (case
 * folded to lower case in ret->ke_id), SUID two decimal digits 10..99; no
 * query, fragment or percent-escape.  Returns 0; MEF_ERR_NOTFOUND when the
 * path is not under "/fetchCredentials"; MEF_ERR_INVALID with *ret_why
 * when it is but is malformed.
 */
int	mef_parse_fetch_path(const char *uri, struct mef_fetch_path *ret,
	    const char **ret_why);

/*
 * t as an m2m:timestamp "YYYYMMDDTHHMMSS" (UTC) in out.  0 or
 * MEF_ERR_INVALID.
 */
int	mef_timestamp(time_t t, char out[MEF_TS_LEN + 1]);

/*
 * Decode hex (upper or lower case, an even number of digits, white space
 * at the end allowed) from s[0..len) into out (cap bytes).  Returns the
 * number of bytes, or MEF_ERR_INVALID.  out may be secret: the caller
 * wipes it.
 */
int	mef_hex_decode(const char *s, size_t len, uint8_t *out, size_t cap);

#endif /* M2M_MEF_PARSE_H */

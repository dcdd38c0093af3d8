/*
 * m2m-mef: the error space and the limits every part of the MEF shares.
 *
 * Every function of daemon/mef returns 0 or a negative MEF_ERR_*; the one
 * table from a refusal to HTTP status, X-M2M-RSC and ErrorString is in
 * http.c (docs/mef-http.md, "Errors").
 */
#ifndef M2M_MEF_H
#define M2M_MEF_H

#include <stddef.h>

enum mef_err {
	MEF_OK = 0,
	MEF_ERR_INTERNAL = -1,		/* a bug or impossible state */
	MEF_ERR_INVALID = -2,		/* a malformed argument or input */
	MEF_ERR_NOMEM = -3,
	MEF_ERR_NOTFOUND = -4,		/* no such row / key */
	MEF_ERR_EXISTS = -5,		/* the row / key is already there */
	MEF_ERR_REGISTRY = -6,		/* SQLite failed (logged) */
	MEF_ERR_VERSION = -7,		/* registry schema unknown */
	MEF_ERR_TOKEN = -8,		/* a PKCS#11 call failed (logged) */
	MEF_ERR_CONF = -9,		/* configuration unusable */
	MEF_ERR_IO = -10,		/* a file could not be read */
	MEF_ERR_KIND = -11		/* the ID is the other kind's (an
					   enrolee's, not a target's, or the
					   converse) */
};

/* A static description of a MEF_ERR_* value; never NULL. */
const char *mef_strerror(int r);

#define MEF_ID_MAX		255	/* KpmId, EnroleeID, target ID */
#define MEF_TARGETS_MAX		16	/* per enrolee, per request */
#define MEF_FQDN_MAX		253
#define MEF_KEID_HEX		32	/* hex digits of RelativeKeId */
#define MEF_KEID_MAX		(MEF_KEID_HEX + 1 + MEF_FQDN_MAX)
#define MEF_SALT_MAX		64	/* bytes of E2E salt */
#define MEF_TS_LEN		15	/* YYYYMMDDTHHMMSS */
#define MEF_BODY_MAX		16384	/* HTTP body */
#define MEF_HEADERS_MAX		8192	/* HTTP request line, headers */
#define MEF_KEY_LEN		32	/* Ke, Kpsa, Kuc */
#define MEF_LIFETIME_MAX	(100L * 365 * 86400)	/* seconds */

/* A list of enrolment target IDs, each a valid ID (parse.h). */
struct mef_targets {
	size_t	n;
	char	id[MEF_TARGETS_MAX][MEF_ID_MAX + 1];
};

#endif /* M2M_MEF_H */

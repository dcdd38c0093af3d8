/*
 * m2mtokend: the methods of the flow IPC (docs/protocol.md, "Methods")
 * and the state they share.
 */
#ifndef M2MTOKEND_METHODS_H
#define M2MTOKEND_METHODS_H

#include <time.h>

#include <json-c/json.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "params.h"
#include "peer.h"
#include "tok.h"

struct mtd {
	struct mtd_conf	*conf;
	struct mtd_tok	*tok;
	SSL_CTX		*enrolee_ctx;	/* identity [enrolee] kpm_id */
	SSL_CTX		*target_ctx;	/* identity [target] id */
	time_t		 started;
	unsigned long	 calls;
	unsigned int	 nconns;
};

/* Which key identifier the caller ACL checks for a method. */
enum mtd_keyarg {
	MTD_KEY_NONE = 0,	/* the method names no key */
	MTD_KEY_PARAM = 1,	/* parameters.key */
	MTD_KEY_KPMID = 2	/* [enrolee] kpm_id, the key Bootstrap uses */
};

struct mtd_call {
	struct mtd		*d;
	const struct m2m_peer	*peer;
	const char		*method;
};

/*
 * A handler fills reply (an empty object) and returns 0, a negative
 * M2M_IPC_ERR_*, or a positive CK_RV of the module; err->detail may say
 * more (never a secret).
 */
typedef long (*mtd_handler)(struct mtd_call *call, struct json_object *params,
    struct json_object *reply, struct mtd_err *err);

struct mtd_method {
	const char	*name;
	mtd_handler	 fn;
	enum mtd_keyarg	 keyarg;
	int		 changes;	/* stores keys: success logged at info */
};

/* The method named name, NULL if none. */
const struct mtd_method *mtd_method_find(const char *name);

/* The whole table (*ret_n rows), for docs and tests. */
const struct mtd_method *mtd_methods(size_t *ret_n);

#endif /* M2MTOKEND_METHODS_H */

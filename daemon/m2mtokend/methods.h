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
#include "mef.h"
#include "params.h"
#include "peer.h"
#include "tok.h"

struct mtd_p11listen;

struct mtd {
	struct mtd_conf	*conf;
	struct mtd_tok	*tok;		/* NULL: client mode only */
	struct mtd_p11listen *p11;	/* NULL: no [pkcs11] socket */
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
	MTD_KEY_KPMID = 2,	/* the key Bootstrap uses: kpm_id or cert_key */
	MTD_KEY_KEID = 3	/* parameters.key, a KeId: as mtd_keid_canon()
				   makes it, the form the method uses */
};

/*
 * The KeId s (32 hex digits "@" an FQDN of [A-Za-z0-9.-], in any case)
 * into out (cap bytes) in lower case, the one form the daemon looks up,
 * fetches and stores, and the caller ACL checks; 0 if s is no KeId or
 * does not fit.
 */
int mtd_keid_canon(const char *s, char *out, size_t cap);

struct mtd_job;

struct mtd_call {
	struct mtd		*d;
	const struct m2m_peer	*peer;
	const char		*method;
	/*
	 * Out: a handler that must talk to the MEF returns 0 with a job
	 * here; the server runs mtd_job_run() in a worker thread, then
	 * job->finish() back in the event loop, which makes the reply.
	 */
	struct mtd_job		*job;
};

/*
 * One exchange with the MEF and what its finish needs.  ekm and res are
 * secret (the export; a response that may carry a credential):
 * mtd_job_free() wipes the whole job.
 */
struct mtd_job {
	SSL_CTX			*ctx;
	SSL_CTX			*own_ctx;	/* freed with the job */
	struct mtd_mef_target	 mt;
	char			*req;
	size_t			 req_len;
	int			 want_ekm;
	uint8_t			 ekm[M2M_TLS_EXPORT_LEN];
	struct mtd_mef_result	 res;
	int			 rc;		/* of mtd_mef_exchange() */
	char			 detail[200];
	long			(*finish)(struct mtd_call *, struct mtd_job *,
				    struct json_object *, struct mtd_err *);
	char			 label[MTD_ID_MAX + 8];
	CK_ULONG		 role;
};

/* A new job (calloc'd); NULL out of memory. */
struct mtd_job *mtd_job_new(void);
/* The worker thread's part: the MEF exchange into j->rc, res, detail. */
void mtd_job_run(struct mtd_job *j);
/* Wipes and frees j; NULL is fine. */
void mtd_job_free(struct mtd_job *j);

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
	int		 changes;	/* stores keys: logged at info */
};

/* The method named name, NULL if none. */
const struct mtd_method *mtd_method_find(const char *name);

/* The whole table (*ret_n rows), for docs and tests. */
const struct mtd_method *mtd_methods(size_t *ret_n);

#endif /* M2MTOKEND_METHODS_H */

/*
 * m2mtokend: what the method files share (methods.c: the local methods and
 * the table; flow_mef.c: the MEF flows, Bootstrap and FetchCredentials).
 */
#ifndef M2MTOKEND_METHODS_INT_H
#define M2MTOKEND_METHODS_INT_H

#include <json-c/json.h>

#include "methods.h"

/* A parameter error: the detail for the reply, then return. */
#define BAD(err, ...) do {						\
	snprintf((err)->detail, sizeof((err)->detail), __VA_ARGS__);	\
	return M2M_IPC_ERR_INVALID_PARAMETER;				\
} while (0)

/* Adds a string member (a copy; NULL: JSON null); M2M_IPC_ERR_NO_MEMORY. */
int	mtd_add_str(struct json_object *o, const char *k, const char *v);

/* Reply members naming key h: key, role, peer, enroleeId, expires. */
long	mtd_reply_key(struct mtd *d, CK_OBJECT_HANDLE h,
	    struct json_object *reply);

/* The MEF flows (flow_mef.c), for the method table. */
long	mtd_h_bootstrap(struct mtd_call *c, struct json_object *params,
	    struct json_object *reply, struct mtd_err *err);
long	mtd_h_fetch(struct mtd_call *c, struct json_object *params,
	    struct json_object *reply, struct mtd_err *err);

/* A device's EC key and certificate (flow_cert.c), for the method table. */
long	mtd_h_keygen(struct mtd_call *c, struct json_object *params,
	    struct json_object *reply, struct mtd_err *err);
long	mtd_h_csr(struct mtd_call *c, struct json_object *params,
	    struct json_object *reply, struct mtd_err *err);
long	mtd_h_cert_import(struct mtd_call *c, struct json_object *params,
	    struct json_object *reply, struct mtd_err *err);

#endif /* M2MTOKEND_METHODS_INT_H */

/*
 * daemon/common: the error space of the daemon's common layer and the one
 * table from it and from CK_RV to the io.m2mtoken.* error names of the flow
 * IPC (docs/protocol.md, "Errors", lists every row).
 *
 * Every function of daemon/common returns 0 or a negative M2M_IPC_ERR_*.
 * The daemon's method handlers return the same codes, or a CK_RV of the
 * module that m2m_ipc_error_from_rv() names; no other place names errors.
 */
#ifndef M2M_DCOMMON_ERRORS_H
#define M2M_DCOMMON_ERRORS_H

#include <stddef.h>

#include <m2mtoken/pkcs11-m2m.h>

enum m2m_ipc_err {
	M2M_IPC_OK = 0,
	M2M_IPC_ERR_INTERNAL = -1,		/* a bug or impossible state */
	M2M_IPC_ERR_INVALID_ARGUMENT = -2,	/* bad pointer/length */
	M2M_IPC_ERR_NO_MEMORY = -3,
	M2M_IPC_ERR_IO = -4,			/* read/write/poll failed */
	M2M_IPC_ERR_TIMEOUT = -5,		/* blocking helper timed out */
	M2M_IPC_ERR_EOF = -6,			/* peer closed between frames */
	M2M_IPC_ERR_TRUNCATED = -7,		/* peer closed inside a frame */
	M2M_IPC_ERR_FRAME_TOO_LARGE = -8,	/* over M2M_IPC_FRAME_MAX */
	M2M_IPC_ERR_INVALID_JSON = -9,		/* not one JSON text */
	M2M_IPC_ERR_INVALID_UTF8 = -10,		/* a string not UTF-8 */
	M2M_IPC_ERR_TOO_DEEP = -11,		/* nested past DEPTH_MAX */
	M2M_IPC_ERR_NOT_OBJECT = -12,		/* the value is no object */
	M2M_IPC_ERR_NO_METHOD = -13,		/* call without "method" */
	M2M_IPC_ERR_METHOD_TYPE = -14,		/* "method" not a string */
	M2M_IPC_ERR_METHOD_NAME = -15,		/* not io.m2mtoken.[A-Za-z]+ */
	M2M_IPC_ERR_UNKNOWN_MEMBER = -16,	/* other top-level member */
	M2M_IPC_ERR_PARAMETERS_TYPE = -17,	/* "parameters" no object */
	M2M_IPC_ERR_ERROR_NAME = -18,		/* reply "error" malformed */
	M2M_IPC_ERR_METHOD_NOT_FOUND = -19,	/* well-formed, not served */
	M2M_IPC_ERR_INVALID_PARAMETER = -20,	/* a parameter is wrong */
	M2M_IPC_ERR_PERMISSION_DENIED = -21,	/* the caller ACL refused */
	M2M_IPC_ERR_ACL_SYNTAX = -22,		/* ACL text malformed */
	M2M_IPC_ERR_NO_PEER = -23,		/* no credentials of peer */
	M2M_IPC_ERR_NUL_ESCAPE = -24,		/* a \u0000 in the frame */
	M2M_IPC_ERR_DUPLICATE_MEMBER = -25,	/* a top-level member twice */
	M2M_IPC_ERR_NOT_CONFIGURED = -26,	/* the daemon lacks config for it */
	M2M_IPC_ERR_MEF_UNREACHABLE = -27,	/* no TLS session with the MEF */
	M2M_IPC_ERR_MEF_REFUSED = -28,		/* the MEF answered an error */
	M2M_IPC_ERR_MEF_PROTOCOL = -29,		/* the MEF's answer is malformed */
	M2M_IPC_ERR_AMBIGUOUS_KEY = -30,	/* several keys match the name */
	M2M_IPC_ERR_LAST = -31
};

/* A static English description of r; never NULL. */
const char *m2m_ipc_strerror(int r);

/*
 * The io.m2mtoken.* name a reply carries for the error r (an M2M_IPC_ERR_*);
 * io.m2mtoken.Internal for M2M_IPC_OK, unknown codes and codes that are no
 * protocol error (e.g. M2M_IPC_ERR_EOF).  Static, never NULL.
 */
const char *m2m_ipc_error_name(int r);

/*
 * The io.m2mtoken.* name for a CK_RV of the module; io.m2mtoken.Internal for
 * CKR_OK and every CK_RV the table does not list.  Static, never NULL.
 */
const char *m2m_ipc_error_from_rv(CK_RV rv);

/*
 * The C name of rv ("CKR_PIN_INCORRECT") for log lines and reasons; a value
 * the PKCS#11 header does not name is written into buf as "CKR_0x..." and
 * buf is returned.  Never NULL.  (ckr.c)
 */
const char *m2m_ckr_name(CK_RV rv, char *buf, size_t len);

/* One row of the table: a source code (kind, value) and its name. */
enum m2m_ipc_err_kind {
	M2M_IPC_ERRK_IPC = 1,	/* value is an M2M_IPC_ERR_* */
	M2M_IPC_ERRK_CKR = 2	/* value is a CK_RV */
};
struct m2m_ipc_errdef {
	enum m2m_ipc_err_kind	 kind;
	unsigned long		 value;	/* (unsigned long)(int) for IPC */
	const char		*code;	/* the value's C name */
	const char		*name;
};

/* The table itself (static, read-only), *ret_n rows; for tests and docs. */
const struct m2m_ipc_errdef *m2m_ipc_error_table(size_t *ret_n);

/* The name of the error replies give for codes the table has no row for. */
#define M2M_IPC_ERROR_INTERNAL	"io.m2mtoken.Internal"

#endif /* M2M_DCOMMON_ERRORS_H */

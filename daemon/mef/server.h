/*
 * m2m-mef: the HTTPS server (docs/mef-http.md): libevent's evhttp over
 * OpenSSL bufferevents whose SSLs come from a libm2mtls server context, so
 * every PSK stays in the MEF's token.
 */
#ifndef M2M_MEF_SERVER_H
#define M2M_MEF_SERVER_H

#include <openssl/ssl.h>

#include "conf.h"
#include "p11.h"

/*
 * Run the server with configuration c in the foreground until SIGTERM or
 * SIGINT: open the token and the registry, destroy Ke objects the registry
 * does not know (left by a crash between the two writes of a bootstrap),
 * listen, and print "listening ADDRESS PORT" on stdout once bound.  SIGHUP
 * reads [cert] ca and crl again (m2m_tls_cert_reload_store: the old store
 * stays when either cannot be read), one log line either way.  The
 * caller has SIGHUP ignored before (main.c), so that one during start-up
 * or shut-down, outside the loop's handler, does not end the process.
 * Returns 0 after a clean stop, else a negative MEF_ERR_*.
 */
int	mef_server_run(const struct mef_conf *c);

/*
 * Open the MEF's token of c: $M2MTOKEN_CONF set to [token] config, the PIN
 * read from [token] pin_file (wiped before returning), a session logged
 * in; with ret_ctx != NULL also a libm2mtls server context (SNI = fqdn)
 * on the same module.  0 or a negative MEF_ERR_* with a line saying why.
 */
int	mef_open_token(const struct mef_conf *c, struct mef_tok **ret_tok,
	    SSL_CTX **ret_ctx);

#endif /* M2M_MEF_SERVER_H */

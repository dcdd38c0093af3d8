/*
 * m2m-mef: the HTTP requests (docs/mef-http.md): bootstrap and
 * fetchCredentials, their checks in the documented order, and the one
 * table from a refusal to HTTP status, X-M2M-RSC and ErrorString.
 * Called by the event loop of server.c; single-threaded.
 */
#ifndef M2M_MEF_HTTP_H
#define M2M_MEF_HTTP_H

#include <time.h>

#include <event2/http.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "p11.h"
#include "registry.h"

/* What the request handlers use; owned by mef_server_run(). */
struct mef_srv {
	const struct mef_conf	*conf;
	struct event_base	*base;
	struct evhttp		*http;
	SSL_CTX			*ctx;
	SSL_CTX			*cert_ctx;	/* NULL: no [cert] */
	struct evhttp		*http_cert;
	struct mef_tok		*tok;
	struct mef_registry	*reg;
	/* server.c: the connections, capped at [listen] max_connections */
	unsigned int		nconn;		/* open, both listeners */
	struct evconnlistener	*lev[2];	/* PSK, certificate (or NULL) */
	struct event		*resume;	/* accept again after an error */
	int			paused;		/* listeners disabled now */
	time_t			cap_logged;	/* last line: the cap reached */
	time_t			err_logged;	/* last line: an accept error */
	int			stopping;	/* listeners gone: leave them */
	/*
	 * Called by mef_http_request for each request of a TLS connection
	 * (server.c: its deadline starts again); NULL: nothing.
	 */
	void			(*request_seen)(SSL *ssl);
};

/* Once per process before serving: 0 or MEF_ERR_NOMEM. */
int	mef_http_init(void);

/* The evhttp callback of every request; arg is the struct mef_srv. */
void	mef_http_request(struct evhttp_request *req, void *arg);

#endif /* M2M_MEF_HTTP_H */

/*
 * m2m-mef: the HTTPS server (server.h, docs/mef-http.md).
 *
 * Single-threaded: one event loop; token and registry calls run on it.
 * This file: the listener, the TLS connections, the signals, the token
 * and the start-up reconcile; the requests are http.c's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <m2mtoken/tls.h>

#include "http.h"
#include "log.h"
#include "registry.h"
#include "server.h"

#define PEER_MAX	64
#define PAUSE_MS	100	/* no accept so long after an accept error */
#define LOG_EVERY	60	/* s: at most one line so often per kind */

/* One connection: its place in srv->nconn and its deadline. */
struct mef_conn {
	struct mef_srv		*srv;
	struct bufferevent	*bev;
	struct event		*deadline;
};

/* The SSL ex_data index of a connection's struct mef_conn. */
static int conn_idx = -1;

/*
 * The server of this process, for on_accept_error(): libevent gives that
 * callback the evhttp, not srv.
 */
static struct mef_srv *accept_srv;

/* 1 when a line about something that recurs is due: one a minute. */
static int
log_due(time_t *last)
{
	time_t now = time(NULL);

	if (*last != 0 && now - *last < LOG_EVERY)
		return 0;
	*last = now;
	return 1;
}

/*
 * Accept while fewer than [listen] max_connections are open and no pause
 * after an accept error runs.  libevent's listener looks at its state
 * after each socket it accepts, so the cap is exact; the sockets beyond it
 * wait in the kernel's queue.
 */
static void
listen_update(struct mef_srv *srv)
{
	size_t i;
	int on;

	on = srv->nconn < srv->conf->max_connections &&
	    !evtimer_pending(srv->resume, NULL);
	/* only a change: an enable costs a system call (epoll_ctl) */
	if (on == !srv->paused)
		return;
	srv->paused = !on;
	for (i = 0; i < sizeof(srv->lev) / sizeof(srv->lev[0]); i++) {
		if (srv->lev[i] == NULL)
			continue;
		if (on)
			(void)evconnlistener_enable(srv->lev[i]);
		else
			(void)evconnlistener_disable(srv->lev[i]);
	}
}

/* The pause after an accept error is over. */
static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	listen_update(arg);
}

/*
 * accept() failed for a reason other than EAGAIN, EINTR or ECONNABORTED:
 * EMFILE, ENFILE, ENOBUFS, ENOMEM.  Without this callback libevent would
 * log a line and try again at once, in a loop, for as long as the error
 * lasts.  Accept nothing for PAUSE_MS instead (a connection that closes
 * frees a descriptor meanwhile); one line a minute at most.
 */
static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct mef_srv *srv = accept_srv;
	struct timeval tv = { 0, PAUSE_MS * 1000 };
	int err = errno;

	(void)lev;
	(void)arg;
	if (log_due(&srv->err_logged))
		mef_log("accept: %s (%u connections open): accepting nothing "
		    "for %d ms after each such error; this line at most once "
		    "a minute", strerror(err), srv->nconn, PAUSE_MS);
	if (evtimer_add(srv->resume, &tv) != 0)
		return;
	listen_update(srv);
}

/*
 * The deadline of a connection without its first request: end it as
 * evhttp ends an idle one, through its event callback with a timeout.
 * evhttp's own timeout restarts at every byte, so a peer that sends one
 * now and then would keep a connection, and its descriptor, for ever.
 */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct mef_conn *conn = arg;
	bufferevent_event_cb eventcb = NULL;
	void *cbarg = NULL;

	(void)fd;
	(void)what;
	bufferevent_getcb(conn->bev, NULL, NULL, &eventcb, &cbarg);
	if (eventcb != NULL)
		eventcb(conn->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT,
		    cbarg);
}

/* SSL_free() of a connection's SSL (the connection's end): uncount it. */
static void
conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct mef_conn *conn = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (conn == NULL)
		return;
	event_free(conn->deadline);
	conn->srv->nconn--;
	if (!conn->srv->stopping)
		listen_update(conn->srv);
	free(conn);
}

/*
 * srv->request_seen: a request of ssl's connection is in, so its deadline
 * ([listen] timeout from the accept, for the handshake and the first
 * request, however slowly the bytes come) starts again, for this reply and
 * the next request of a keep-alive connection; evhttp's idle timeout stays.
 */
static void
request_seen(SSL *ssl)
{
	struct mef_conn *conn;
	struct timeval tv;

	if (conn_idx < 0 || (conn = SSL_get_ex_data(ssl, conn_idx)) == NULL)
		return;
	/* the next request (keep-alive) has as long from this one */
	tv.tv_sec = (time_t)conn->srv->conf->timeout;
	tv.tv_usec = 0;
	(void)evtimer_add(conn->deadline, &tv);
}

/*
 * The refused handshakes' lines, one limit per alert: a peer without
 * credentials can refuse itself as often as it connects, and m2mtokend
 * limits its lines of that kind likewise (one a second per reason).
 */
static struct mef_log_limit refused_lim[256];

/*
 * Handshake outcomes: one log line each (refusals name the alert; at most
 * one a second for each alert).
 */
static void
info_cb(const SSL *ssl, int where, int ret)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char peer[PEER_MAX], host[INET6_ADDRSTRLEN];
	const char *who;
	int alert, fd;

	if (!(where & SSL_CB_HANDSHAKE_DONE) && !((where & SSL_CB_ALERT) &&
	    (where & SSL_CB_WRITE) && (ret >> 8) == SSL3_AL_FATAL))
		return;
	snprintf(peer, sizeof(peer), "?");
	if ((fd = SSL_get_fd(ssl)) >= 0 &&
	    getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET &&
		    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    host, sizeof(host)) != NULL)
			snprintf(peer, sizeof(peer), "%s:%u", host, ntohs(
			    ((struct sockaddr_in *)&ss)->sin_port));
		else if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6,
		    &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
		    sizeof(host)) != NULL)
			snprintf(peer, sizeof(peer), "[%s]:%u", host, ntohs(
			    ((struct sockaddr_in6 *)&ss)->sin6_port));
	}
	who = SSL_get_psk_identity(ssl);
	if (where & SSL_CB_HANDSHAKE_DONE)
		mef_log_decision("handshake", who, peer, "ok", NULL, NULL);
	else {
		/*
		 * An identity without a key fails as a wrong key does, with
		 * bad_record_mac, so that the peer cannot tell the two apart
		 * (m2m_tls_unknown_identity); the log still can.
		 */
		alert = m2m_tls_unknown_identity(ssl) ?
		    SSL_AD_UNKNOWN_PSK_IDENTITY : ret & 0xff;
		mef_log_decision_limited(&refused_lim[alert], "handshake",
		    who, peer, "refused", SSL_alert_desc_string_long(alert),
		    NULL);
	}
}

/*
 * A new TLS server bufferevent on ctx for a socket just accepted: counted
 * in srv->nconn until its SSL is freed (conn_free), with its deadline.  A
 * NULL return would make evhttp fall back to a plain socket bufferevent;
 * on_request() refuses any connection without SSL.
 */
static struct bufferevent *
tls_connection(struct mef_srv *srv, SSL_CTX *ctx)
{
	struct bufferevent *bev;
	struct mef_conn *conn;
	struct timeval tv;
	SSL *ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	if ((conn = calloc(1, sizeof(*conn))) == NULL ||
	    (conn->deadline = evtimer_new(srv->base, on_deadline,
	    conn)) == NULL || !SSL_set_ex_data(ssl, conn_idx, conn)) {
		if (conn != NULL && conn->deadline != NULL)
			event_free(conn->deadline);
		free(conn);
		SSL_free(ssl);
		return NULL;
	}
	conn->srv = srv;
	srv->nconn++;	/* from here SSL_free() uncounts it */
	/* every handshake runs on the token's key: no resumption */
	SSL_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_set_info_callback(ssl, info_cb);
	bev = bufferevent_openssl_socket_new(srv->base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	conn->bev = bev;
	tv.tv_sec = (time_t)srv->conf->timeout;
	tv.tv_usec = 0;
	(void)evtimer_add(conn->deadline, &tv);
	if (srv->nconn >= srv->conf->max_connections) {
		if (log_due(&srv->cap_logged))
			mef_log("%u connections open ([listen] "
			    "max_connections): new ones wait until one ends; "
			    "this line at most once a minute", srv->nconn);
		listen_update(srv);
	}
	return bev;
}

/*
 * The event loop.  With the changelist, the event changes one callback
 * makes on a connection become one epoll_ctl: evhttp takes the read event
 * off and puts the write event on for each reply (three calls before, one
 * now; bench/README.md, m2m-mef).  The changelist's known trap, a file
 * descriptor duplicated with dup(), does not arise: nothing here dups one.
 */
static struct event_base *
new_base(void)
{
	struct event_config *cfg;
	struct event_base *base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

/* The PSK listener's connections. */
static struct bufferevent *
on_connection(struct event_base *base, void *arg)
{
	(void)base;
	return tls_connection(arg, ((struct mef_srv *)arg)->ctx);
}

/* The certificate listener's connections: the same, on srv->cert_ctx. */
static struct bufferevent *
on_cert_connection(struct event_base *base, void *arg)
{
	(void)base;
	return tls_connection(arg, ((struct mef_srv *)arg)->cert_ctx);
}

/* The certificate listener's options of c, but the PIN. */
static void
cert_opts(const struct mef_conf *c, struct m2m_tls_cert_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->module = c->module;
	o->key_uri = c->cert_key;
	o->cert_file = c->cert_file;
	o->ca_file = c->cert_ca;
	o->crl_file = c->cert_crl;
	o->crl_check = c->cert_crl_check == MEF_CRL_CHAIN ?
	    M2M_TLS_CRL_CHAIN : M2M_TLS_CRL_LEAF;
	o->role = M2M_TLS_SERVER;
	o->sni = c->fqdn;
}

/*
 * The certificate listener's context ([cert]): the MEF's key in its token
 * by URI, TLS 1.2 ECDHE-ECDSA, enrolees verified against [cert] ca (and
 * crl, crl_check).
 */
static int
open_cert_ctx(const struct mef_conf *c, SSL_CTX **ret)
{
	struct m2m_tls_cert_opts o;
	char pin[MEF_PIN_MAX + 1];
	size_t pin_len = 0;
	int r, tr;

	if ((r = mef_conf_read_pin(c->pin_file, pin, &pin_len)) != 0)
		goto out;
	cert_opts(c, &o);
	o.pin = pin;
	if ((tr = m2m_tls_cert_ctx_new(&o, ret)) != 0) {
		mef_log("certificate TLS context: %s", m2m_tls_strerror(tr));
		/* a [cert] file that cannot be used (its line said which) */
		r = tr == M2M_TLS_ERR_ARG ? MEF_ERR_CONF : MEF_ERR_TOKEN;
		goto out;
	}
	r = 0;
 out:
	OPENSSL_cleanse(pin, sizeof(pin));
	return r;
}

/*
 * Bind http to address:port with TCP_NODELAY, its listener in *lev with
 * on_accept_error; the port bound, or 0.
 */
static unsigned int
bind_http(struct evhttp *http, const char *address, unsigned int want,
    struct evconnlistener **lev)
{
	struct evhttp_bound_socket *bound;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1;

	if ((bound = evhttp_bind_socket_with_handle(http, address,
	    (ev_uint16_t)want)) == NULL) {
		mef_log("cannot listen on %s port %u: %s", address, want,
		    strerror(errno));
		return 0;
	}
	*lev = evhttp_bound_socket_get_listener(bound);
	evconnlistener_set_error_cb(*lev, on_accept_error);
	/*
	 * Replies go out as several records (headers, body by reference):
	 * without TCP_NODELAY, Nagle holds the last one for the peer's
	 * delayed ACK (40 ms).  Accepted sockets inherit it on Linux.
	 */
	(void)setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP,
	    TCP_NODELAY, &one, sizeof(one));
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&ss, &sl) != 0)
		return 0;
	return ss.ss_family == AF_INET6 ?
	    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
	    ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Set up one evhttp of srv: limits, methods, the request callback. */
static struct evhttp *
http_new(struct mef_srv *srv, struct bufferevent *(*cb)(struct event_base *,
    void *))
{
	struct evhttp *http;

	if ((http = evhttp_new(srv->base)) == NULL)
		return NULL;
	evhttp_set_bevcb(http, cb, srv);
	evhttp_set_gencb(http, mef_http_request, srv);
	evhttp_set_max_headers_size(http, MEF_HEADERS_MAX);
	evhttp_set_max_body_size(http, MEF_BODY_MAX);
	evhttp_set_timeout(http, (int)srv->conf->timeout);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	return http;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct mef_srv *srv = arg;

	(void)what;
	mef_log("signal %d: stopping", (int)sig);
	event_base_loopbreak(srv->base);
}

/*
 * SIGHUP: the certificate listener's [cert] ca and crl read again into a
 * new store, which replaces the one in use only when all of it was read.
 * The loop runs nothing else meanwhile, so no handshake is being verified;
 * connections already made keep going, the next handshakes use the new
 * store.  One line either way.
 */
static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct mef_srv *srv = arg;
	struct m2m_tls_cert_opts o;
	char why[M2M_TLS_WHY_MAX];
	int n = 0;

	(void)sig;
	(void)what;
	if (srv->cert_ctx == NULL) {
		mef_log("SIGHUP: no certificate listener ([cert]): nothing "
		    "to reload");
		return;
	}
	cert_opts(srv->conf, &o);
	if (m2m_tls_cert_reload_store(srv->cert_ctx, &o, &n, why,
	    sizeof(why)) != 0) {
		mef_log("SIGHUP: reload failed, the certificate listener "
		    "keeps the CAs and CRLs it had: %s", why);
		return;
	}
	if (o.crl_file != NULL)
		mef_log("SIGHUP: certificate listener reloaded: CAs of %s, "
		    "%d CRL%s of %s (crl_check %s)", o.ca_file, n,
		    n == 1 ? "" : "s", o.crl_file,
		    o.crl_check == M2M_TLS_CRL_CHAIN ? "chain" : "leaf");
	else
		mef_log("SIGHUP: certificate listener reloaded: CAs of %s, "
		    "no CRL", o.ca_file);
}

/* see server.h */
int
mef_open_token(const struct mef_conf *c, struct mef_tok **ret_tok,
    SSL_CTX **ret_ctx)
{
	struct m2m_tls_opts o;
	struct mef_tok *tok = NULL;
	SSL_CTX *ctx = NULL;
	char pin[MEF_PIN_MAX + 1];
	size_t pin_len = 0;
	int r, tr;

	if (c == NULL || ret_tok == NULL)
		return MEF_ERR_INVALID;
	if (c->token_conf != NULL &&
	    setenv("M2MTOKEN_CONF", c->token_conf, 1) != 0)
		return MEF_ERR_NOMEM;
	if ((r = mef_conf_read_pin(c->pin_file, pin, &pin_len)) != 0)
		goto out;
	if ((r = mef_tok_open(c->module, c->token_label, pin, pin_len,
	    &tok)) != 0)
		goto out;
	if (ret_ctx != NULL) {
		memset(&o, 0, sizeof(o));
		o.module = c->module;
		o.token_label = c->token_label;
		o.pin = pin;
		o.pin_len = pin_len;
		o.role = M2M_TLS_SERVER;
		o.sni = c->fqdn;
		o.ciphers = M2M_TLS_CIPHERS_TLS;
		if ((tr = m2m_tls_ctx_new(&o, &ctx)) != 0) {
			mef_log("TLS context: %s", m2m_tls_strerror(tr));
			r = MEF_ERR_TOKEN;
			goto out;
		}
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET |
		    SSL_OP_NO_RENEGOTIATION);
		*ret_ctx = ctx;
		ctx = NULL;	/* transferred */
	}
	*ret_tok = tok;
	tok = NULL;	/* transferred */
	r = 0;
 out:
	OPENSSL_cleanse(pin, sizeof(pin));
	mef_tok_close(tok);
	return r;
}

static int
reconcile_one(const char *label, void *arg)
{
	struct mef_srv *srv = arg;
	struct mef_ke ke;
	int r;

	if ((r = mef_reg_ke_get(srv->reg, label, &ke)) == 0)
		return 0;
	if (r != MEF_ERR_NOTFOUND)
		return r;
	if ((r = mef_tok_destroy(srv->tok, label, CK_M2M_ROLE_KE)) < 0)
		return r;
	mef_log("start: destroyed Ke %s, which no registry row names (a "
	    "bootstrap cut short)", label);
	return 0;
}

/* see server.h */
int
mef_server_run(const struct mef_conf *c)
{
	struct mef_srv srv;
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	unsigned int port = 0, cport = 0;
	int r;

	memset(&srv, 0, sizeof(srv));
	srv.conf = c;
	srv.request_seen = request_seen;
	if ((r = mef_http_init()) != 0)
		return r;
	if (conn_idx < 0 && (conn_idx = SSL_get_ex_new_index(0, NULL, NULL,
	    NULL, conn_free)) < 0)
		return MEF_ERR_NOMEM;
	accept_srv = &srv;
	if ((r = mef_reg_open(c->registry, &srv.reg)) != 0)
		goto out;
	if ((r = mef_open_token(c, &srv.tok, &srv.ctx)) != 0)
		goto out;
	/* best effort: an orphan Ke is harmless, only untidy */
	if ((r = mef_tok_list(srv.tok, CK_M2M_ROLE_KE, reconcile_one,
	    &srv)) != 0)
		mef_log("start: cannot reconcile the token with the "
		    "registry (%s): orphan Ke objects, if any, stay",
		    mef_strerror(r));
	if (c->cert_on && (r = open_cert_ctx(c, &srv.cert_ctx)) != 0)
		goto out;
	r = MEF_ERR_INTERNAL;
	if ((srv.base = new_base()) == NULL ||
	    (srv.resume = evtimer_new(srv.base, on_resume, &srv)) == NULL ||
	    (srv.http = http_new(&srv, on_connection)) == NULL ||
	    (port = bind_http(srv.http, c->address, c->port,
	    &srv.lev[0])) == 0)
		goto out;
	if (srv.cert_ctx != NULL && ((srv.http_cert = http_new(&srv,
	    on_cert_connection)) == NULL || (cport = bind_http(srv.http_cert,
	    c->address, c->cert_port, &srv.lev[1])) == 0))
		goto out;
	if ((ev_term = evsignal_new(srv.base, SIGTERM, on_signal, &srv)) ==
	    NULL || (ev_int = evsignal_new(srv.base, SIGINT, on_signal,
	    &srv)) == NULL || (ev_hup = evsignal_new(srv.base, SIGHUP,
	    on_hup, &srv)) == NULL || event_add(ev_term, NULL) != 0 ||
	    event_add(ev_int, NULL) != 0 || event_add(ev_hup, NULL) != 0)
		goto out;
	mef_log("listening on %s port %u, MEF-FQDN %s", c->address, port,
	    c->fqdn);
	printf("listening %s %u\n", c->address, port);
	if (srv.cert_ctx != NULL) {
		mef_log("listening on %s port %u for certificates",
		    c->address, cport);
		printf("listening-cert %s %u\n", c->address, cport);
	}
	fflush(stdout);
	if (event_base_dispatch(srv.base) < 0)
		goto out;
	r = 0;
 out:
	/* connections freed from here on leave the listeners alone */
	srv.stopping = 1;
	if (ev_term != NULL)
		event_free(ev_term);
	if (ev_int != NULL)
		event_free(ev_int);
	/* SIGHUP: back to what main() set, ignored (not the default) */
	if (ev_hup != NULL)
		event_free(ev_hup);
	if (srv.http != NULL)
		evhttp_free(srv.http);
	if (srv.http_cert != NULL)
		evhttp_free(srv.http_cert);
	if (srv.resume != NULL)
		event_free(srv.resume);
	if (srv.base != NULL)
		event_base_free(srv.base);
	accept_srv = NULL;
	m2m_tls_ctx_free(srv.ctx);
	SSL_CTX_free(srv.cert_ctx);
	mef_tok_close(srv.tok);
	mef_reg_close(srv.reg);
	return r;
}

/*
 * daemon/common: flow IPC framing (see ipc.h, docs/protocol.md).
 */
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>

#include "ipc.h"
#include "text.h"

/* A reader keeps a buffer up to this size between frames. */
#define KEEP_MAX	4096
#define GROW_MIN	256
#define CHUNK		4096

struct m2m_ipc_reader {
	enum m2m_ipc_kind	 kind;
	char			*buf;	/* the frame so far, no NUL */
	size_t			 len;
	size_t			 cap;	/* <= M2M_IPC_FRAME_MAX */
	int			 dead;	/* a frame was too large */
	char			*ahead;	/* CHUNK bytes: read past a frame's end */
	size_t			 aoff;	/* ... not yet fed: ahead[aoff, +alen) */
	size_t			 alen;
	int			 drained; /* the last recv() emptied the socket */
};

struct m2m_ipc_msg {
	struct json_object	*root;
	const char		*method;	/* in root */
	const char		*error;		/* in root */
	struct json_object	*params;	/* in root */
};

/* see ipc.h */
int
m2m_ipc_name_valid(const char *name)
{
	size_t i, plen = sizeof(M2M_IPC_NAME_PREFIX) - 1;

	if (name == NULL || strncmp(name, M2M_IPC_NAME_PREFIX, plen) != 0)
		return 0;
	for (i = plen; name[i] != '\0'; i++) {
		if (i >= M2M_IPC_NAME_MAX)
			return 0;
		if (!((name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= 'a' && name[i] <= 'z')))
			return 0;
	}
	return i > plen;
}

/* see ipc.h */
int
m2m_ipc_reader_new(enum m2m_ipc_kind kind, struct m2m_ipc_reader **ret_rd)
{
	struct m2m_ipc_reader *rd;

	if (ret_rd == NULL ||
	    (kind != M2M_IPC_CALLS && kind != M2M_IPC_REPLIES))
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	if ((rd = calloc(1, sizeof(*rd))) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	rd->kind = kind;
	*ret_rd = rd;
	return 0;
}

/* see ipc.h */
void
m2m_ipc_reader_free(struct m2m_ipc_reader *rd)
{
	if (rd == NULL)
		return;
	/* a frame may hold a secret (an E2E plaintext): wiped, all of it */
	if (rd->buf != NULL)
		explicit_bzero(rd->buf, rd->cap);
	free(rd->buf);
	if (rd->ahead != NULL)
		explicit_bzero(rd->ahead, CHUNK);
	free(rd->ahead);
	free(rd);
}

/* see ipc.h */
size_t
m2m_ipc_reader_capacity(const struct m2m_ipc_reader *rd)
{
	return rd == NULL ? 0 : rd->cap;
}

/* see ipc.h */
void
m2m_ipc_msg_free(struct m2m_ipc_msg *msg)
{
	if (msg == NULL)
		return;
	m2m_json_put_wiped(msg->root);
	free(msg);
}

/* see ipc.h */
void
m2m_json_wipe(struct json_object *o)
{
	size_t i, n;

	switch (json_object_get_type(o)) {
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			(void)key;
			m2m_json_wipe(val);
		}
		break;
	}
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			m2m_json_wipe(json_object_array_get_idx(o, i));
		break;
	case json_type_string:
		/* json-c's own bytes (no copy): the object is ours to wreck */
		explicit_bzero((char *)(uintptr_t)json_object_get_string(o),
		    (size_t)json_object_get_string_len(o));
		break;
	default:
		break;
	}
}

/* see ipc.h */
void
m2m_json_put_wiped(struct json_object *o)
{
	m2m_json_wipe(o);
	json_object_put(o);
}

/* see ipc.h */
struct json_tokener *
m2m_json_tokener_new(int depth, size_t len)
{
	struct json_tokener *tok;

	if (len > INT_MAX - 64 || (tok = json_tokener_new_ex(depth)) == NULL)
		return NULL;
	/*
	 * The tokener gathers each string in tok->pb, which json-c grows
	 * with realloc(): the old block, with the string so far, would go
	 * back to malloc unwiped.  No string of len bytes of text is longer
	 * than len, so the buffer made that big now never moves.
	 */
	if (printbuf_memset(tok->pb, 0, 0, (int)len + 16) < 0) {
		json_tokener_free(tok);
		return NULL;
	}
	printbuf_reset(tok->pb);
	return tok;
}

/* see ipc.h */
void
m2m_json_tokener_free(struct json_tokener *tok)
{
	if (tok == NULL)
		return;
	if (tok->pb != NULL && tok->pb->buf != NULL && tok->pb->size > 0)
		explicit_bzero(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
}

/* see ipc.h */
const char *
m2m_ipc_msg_method(const struct m2m_ipc_msg *msg)
{
	return msg == NULL ? NULL : msg->method;
}

/* see ipc.h */
const char *
m2m_ipc_msg_error(const struct m2m_ipc_msg *msg)
{
	return msg == NULL ? NULL : msg->error;
}

/* see ipc.h */
struct json_object *
m2m_ipc_msg_parameters(const struct m2m_ipc_msg *msg)
{
	return msg == NULL ? NULL : msg->params;
}

/* see ipc.h */
struct json_object *
m2m_ipc_msg_take_parameters(struct m2m_ipc_msg *msg)
{
	struct json_object *p;

	if (msg == NULL || msg->params == NULL)
		return NULL;
	p = json_object_get(msg->params);
	/* puts root's reference: p is then the caller's only one */
	json_object_object_del(msg->root, "parameters");
	msg->params = NULL;
	return p;
}

/* A string member that is a valid name: its value, or NULL. */
static const char *
name_of(struct json_object *v)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	/* an embedded \u0000 would hide the rest of the name */
	if ((size_t)json_object_get_string_len(v) != strlen(s) ||
	    !m2m_ipc_name_valid(s))
		return NULL;
	return s;
}

/*
 * 1 if the len bytes at s are UTF-8 as RFC 3629 defines it: shortest
 * form, no surrogates, nothing above U+10FFFF (json-c lets overlong forms
 * through).
 */
static int
utf8_valid(const unsigned char *s, size_t len)
{
	unsigned long cp;
	size_t i, n;

	for (i = 0; i < len; i += n)
		if ((n = m2m_utf8_char(s + i, len - i, &cp)) == 0)
			return 0;
	return 1;
}

/*
 * 1 if the JSON text (already parsed: every backslash is in a string and
 * starts an escape) holds a \u0000 escape.  json-c cuts object keys at
 * it, so "method\u0000x" would read as "method"; no member name or value
 * of this protocol needs a NUL.
 */
static int
has_nul_escape(const char *text, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (text[i] != '\\')
			continue;
		if (text[i + 1] == 'u' && i + 5 < len &&
		    memcmp(text + i + 2, "0000", 4) == 0)
			return 1;
		i++;	/* the escaped character */
	}
	return 0;
}

/* A member name of the outermost object, as top_names sees it. */
struct top_name {
	size_t	start;		/* its bytes: text[start..end) */
	size_t	end;
	int	esc;		/* it holds an escape */
};

/*
 * Scans a JSON text outside its strings: for each colon at depth 1, the
 * string closed last before it is a member name of the outermost object,
 * handed to visit, which returns 0 to go on.  The scan's result: what
 * visit returned to stop it, -1 at a single quote outside strings
 * (json-c, even strict, reads 'name' as a member name, which JSON has not;
 * and a name holding a '"' would put the scan out of step: found by
 * fuzz_json_names), else 0.  Only a scan: json-c decides what is JSON.
 */
static int
top_names(const char *text, size_t len,
    int (*visit)(const char *, const struct top_name *, void *), void *arg)
{
	struct top_name nm = { 0, 0, 0 };
	size_t i, depth = 0;
	int in_str = 0, esc = 0, r;

	for (i = 0; i < len; i++) {
		if (in_str) {
			if (text[i] == '\\') {
				esc = 1;
				i++;
			} else if (text[i] == '"') {
				in_str = 0;
				nm.end = i;
				nm.esc = esc;
			}
			continue;
		}
		switch (text[i]) {
		case '\'':
			return -1;
		case '"':
			in_str = 1;
			esc = 0;
			nm.start = i + 1;
			break;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			depth--;
			break;
		case ':':
			if (depth == 1 && (r = visit(text, &nm, arg)) != 0)
				return r;
			break;
		default:
			break;
		}
	}
	return 0;
}

static int
count_name(const char *text, const struct top_name *nm, void *arg)
{
	(void)text;
	(void)nm;
	++*(size_t *)arg;
	return 0;
}

/* see ipc.h */
size_t
m2m_ipc_top_members(const char *text, size_t len)
{
	size_t n = 0;

	/* a single quote: a count no object of json-c's matches */
	return top_names(text, len, count_name, &n) == 0 ? n : SIZE_MAX;
}

/*
 * 1 if a single quote stands outside the strings of text: not JSON, and
 * it would put the member counts out of step (top_names).
 */
static int
has_single_quote(const char *text, size_t len)
{
	size_t n = 0;

	return top_names(text, len, count_name, &n) == -1;
}

struct names_seen {
	size_t	off[M2M_IPC_NAMES_MAX];
	size_t	len[M2M_IPC_NAMES_MAX];
	size_t	n;
	size_t	max;
};

/* 1 (stop) for a name with an escape, one too many, or one seen before */
static int
name_once(const char *text, const struct top_name *nm, void *arg)
{
	struct names_seen *ns = arg;
	size_t k, l = nm->end - nm->start;

	if (nm->esc || ns->n == ns->max)
		return 1;
	for (k = 0; k < ns->n; k++)
		if (ns->len[k] == l &&
		    memcmp(text + ns->off[k], text + nm->start, l) == 0)
			return 1;
	ns->off[ns->n] = nm->start;
	ns->len[ns->n++] = l;
	return 0;
}

/* see ipc.h */
int
m2m_ipc_names_once(const char *text, size_t len, size_t max)
{
	struct names_seen ns;

	ns.n = 0;
	ns.max = max < M2M_IPC_NAMES_MAX ? max : M2M_IPC_NAMES_MAX;
	return top_names(text, len, name_once, &ns) == 0;
}

/*
 * Parses and checks one frame's JSON text (len bytes, no NUL) of the given
 * kind; *ret_msg on success.
 */
static int
parse_frame(enum m2m_ipc_kind kind, const char *text, size_t len,
    struct m2m_ipc_msg **ret_msg)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL, *v;
	struct m2m_ipc_msg *msg = NULL;
	enum json_tokener_error jerr;
	size_t end;
	int r = M2M_IPC_ERR_INTERNAL;

	/* the whole text: JSON outside strings is ASCII */
	if (!utf8_valid((const unsigned char *)text, len)) {
		r = M2M_IPC_ERR_INVALID_UTF8;
		goto out;
	}
	if (has_single_quote(text, len)) {
		r = M2M_IPC_ERR_INVALID_JSON;
		goto out;
	}
	if ((tok = m2m_json_tokener_new(M2M_IPC_DEPTH_MAX, len)) == NULL) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_parse_end(tok);
	jerr = json_tokener_get_error(tok);
	if (root == NULL && jerr == json_tokener_continue) {
		/* all taken: the NUL ends a bare literal ("null", "1") */
		root = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	if (jerr == json_tokener_error_depth) {
		r = M2M_IPC_ERR_TOO_DEEP;
		goto out;
	}
	if (jerr == json_tokener_error_parse_utf8_string) {
		r = M2M_IPC_ERR_INVALID_UTF8;
		goto out;
	}
	if (jerr != json_tokener_success) {
		/* json_tokener_continue: the text ends inside a value */
		r = M2M_IPC_ERR_INVALID_JSON;
		goto out;
	}
	/* one JSON text: only white space may follow it */
	for (; end < len; end++) {
		if (text[end] != ' ' && text[end] != '\t' &&
		    text[end] != '\n' && text[end] != '\r') {
			r = M2M_IPC_ERR_INVALID_JSON;
			goto out;
		}
	}
	if (has_nul_escape(text, len)) {
		r = M2M_IPC_ERR_NUL_ESCAPE;
		goto out;
	}
	/* "null" parses to NULL with success */
	if (!json_object_is_type(root, json_type_object)) {
		r = M2M_IPC_ERR_NOT_OBJECT;
		goto out;
	}
	if (m2m_ipc_top_members(text, len) !=
	    (size_t)json_object_object_length(root)) {
		r = M2M_IPC_ERR_DUPLICATE_MEMBER;
		goto out;
	}
	{
		json_object_object_foreach(root, key, val) {
			(void)val;
			if (strcmp(key, "parameters") == 0)
				continue;
			if (kind == M2M_IPC_CALLS &&
			    strcmp(key, "method") == 0)
				continue;
			if (kind == M2M_IPC_REPLIES &&
			    strcmp(key, "error") == 0)
				continue;
			r = M2M_IPC_ERR_UNKNOWN_MEMBER;
			goto out;
		}
	}
	if ((msg = calloc(1, sizeof(*msg))) == NULL) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	if (kind == M2M_IPC_CALLS) {
		if (!json_object_object_get_ex(root, "method", &v)) {
			r = M2M_IPC_ERR_NO_METHOD;
			goto out;
		}
		if (!json_object_is_type(v, json_type_string)) {
			r = M2M_IPC_ERR_METHOD_TYPE;
			goto out;
		}
		if ((msg->method = name_of(v)) == NULL) {
			r = M2M_IPC_ERR_METHOD_NAME;
			goto out;
		}
	} else if (json_object_object_get_ex(root, "error", &v) &&
	    (msg->error = name_of(v)) == NULL) {
		r = M2M_IPC_ERR_ERROR_NAME;
		goto out;
	}
	if (json_object_object_get_ex(root, "parameters", &v)) {
		if (!json_object_is_type(v, json_type_object)) {
			r = M2M_IPC_ERR_PARAMETERS_TYPE;
			goto out;
		}
	} else {
		if ((v = json_object_new_object()) == NULL ||
		    json_object_object_add(root, "parameters", v) != 0) {
			json_object_put(v);
			r = M2M_IPC_ERR_NO_MEMORY;
			goto out;
		}
	}
	msg->params = v;
	msg->root = root;
	root = NULL;	/* transferred */
	*ret_msg = msg;
	msg = NULL;	/* transferred */
	r = 0;
 out:
	free(msg);
	m2m_json_put_wiped(root);
	m2m_json_tokener_free(tok);
	return r;
}

/* Makes room for need bytes in rd->buf; need <= M2M_IPC_FRAME_MAX. */
static int
reserve(struct m2m_ipc_reader *rd, size_t need)
{
	size_t ncap;
	char *nbuf;

	if (need <= rd->cap)
		return 0;
	ncap = rd->cap < GROW_MIN ? GROW_MIN : rd->cap;
	while (ncap < need)
		ncap *= 2;
	if (ncap > M2M_IPC_FRAME_MAX)
		ncap = M2M_IPC_FRAME_MAX;
	/* not realloc(): the old block, with the frame so far, is wiped */
	if ((nbuf = malloc(ncap)) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	if (rd->buf != NULL) {
		memcpy(nbuf, rd->buf, rd->len);
		explicit_bzero(rd->buf, rd->cap);
		free(rd->buf);
	}
	rd->buf = nbuf;
	rd->cap = ncap;
	return 0;
}

/* Forgets the frame in rd, keeping a small buffer for the next one. */
static void
reader_reset(struct m2m_ipc_reader *rd)
{
	/* the buffer kept between frames holds no old one */
	if (rd->buf != NULL)
		explicit_bzero(rd->buf, rd->len);
	rd->len = 0;
	if (rd->cap > KEEP_MAX) {
		free(rd->buf);
		rd->buf = NULL;
		rd->cap = 0;
	}
}

/* see ipc.h */
int
m2m_ipc_reader_feed(struct m2m_ipc_reader *rd, const void *data,
    size_t len, size_t *ret_used, struct m2m_ipc_msg **ret_msg)
{
	const char *nul;
	size_t take;
	int r = M2M_IPC_ERR_INTERNAL;

	if (ret_used != NULL)
		*ret_used = 0;
	if (ret_msg != NULL)
		*ret_msg = NULL;
	if (rd == NULL || (data == NULL && len > 0) || ret_used == NULL ||
	    ret_msg == NULL)
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	if (rd->dead) {
		*ret_used = len;
		return M2M_IPC_ERR_FRAME_TOO_LARGE;
	}
	nul = len > 0 ? memchr(data, '\0', len) : NULL;
	take = nul != NULL ? (size_t)(nul - (const char *)data) : len;
	/* the cap, before a byte is stored or the buffer grows */
	if (take > M2M_IPC_FRAME_MAX - rd->len) {
		rd->dead = 1;
		if (rd->buf != NULL)
			explicit_bzero(rd->buf, rd->cap);
		free(rd->buf);
		rd->buf = NULL;
		rd->cap = rd->len = 0;
		*ret_used = len;
		return M2M_IPC_ERR_FRAME_TOO_LARGE;
	}
	if ((r = reserve(rd, rd->len + take)) != 0)
		return r;
	if (take > 0)
		memcpy(rd->buf + rd->len, data, take);
	rd->len += take;
	if (nul == NULL) {
		*ret_used = len;
		return 0;
	}
	*ret_used = take + 1;
	r = parse_frame(rd->kind, rd->buf, rd->len, ret_msg);
	reader_reset(rd);
	return r;
}

/* see ipc.h */
int
m2m_ipc_reader_eof(const struct m2m_ipc_reader *rd)
{
	if (rd == NULL)
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	return rd->len > 0 || rd->alen > 0 || rd->dead ?
	    M2M_IPC_ERR_TRUNCATED : 0;
}

/* see ipc.h */
int
m2m_ipc_reader_buffered(const struct m2m_ipc_reader *rd)
{
	return rd != NULL && rd->alen > 0;
}

/* see ipc.h */
int
m2m_ipc_reader_drained(const struct m2m_ipc_reader *rd)
{
	return rd != NULL && rd->alen == 0 && rd->drained;
}

/* Keeps data[0, n) (n <= CHUNK), read past a frame, for the next read. */
static int
keep_ahead(struct m2m_ipc_reader *rd, const char *data, size_t n)
{
	if (rd->ahead == NULL && (rd->ahead = malloc(CHUNK)) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	memcpy(rd->ahead, data, n);
	rd->aoff = 0;
	rd->alen = n;
	return 0;
}

/*
 * As m2m_ipc_reader_read_fd(), with chunk for its reads: the caller wipes
 * it (a frame may hold a secret).
 */
static int
read_fd(struct m2m_ipc_reader *rd, int fd, char chunk[CHUNK],
    struct m2m_ipc_msg **ret_msg)
{
	size_t used;
	ssize_t n;
	int r = M2M_IPC_ERR_INTERNAL, k;

	for (;;) {
		/* first what an earlier read took past its frame */
		if (rd->alen > 0) {
			r = m2m_ipc_reader_feed(rd, rd->ahead + rd->aoff,
			    rd->alen, &used, ret_msg);
			/* copied into the frame: not kept twice */
			explicit_bzero(rd->ahead + rd->aoff, used);
			rd->aoff += used;
			rd->alen -= used;
			if (r != 0 || *ret_msg != NULL)
				return r;
			continue;	/* all fed: alen is 0 */
		}
		n = recv(fd, chunk, CHUNK, MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			rd->drained = 1;
			return 0;
		}
		if (n == -1)
			return M2M_IPC_ERR_IO;
		if (n == 0) {
			r = m2m_ipc_reader_eof(rd);
			return r != 0 ? r : M2M_IPC_ERR_EOF;
		}
		/* a stream socket gives less than asked only when emptied */
		rd->drained = (size_t)n < CHUNK;
		r = m2m_ipc_reader_feed(rd, chunk, (size_t)n, &used, ret_msg);
		if (used < (size_t)n &&
		    (k = keep_ahead(rd, chunk + used, (size_t)n - used)) != 0) {
			m2m_ipc_msg_free(*ret_msg);
			*ret_msg = NULL;
			return k;
		}
		if (r != 0 || *ret_msg != NULL)
			return r;
	}
}

/* see ipc.h */
int
m2m_ipc_reader_read_fd(struct m2m_ipc_reader *rd, int fd,
    struct m2m_ipc_msg **ret_msg)
{
	char chunk[CHUNK];
	int r;

	if (ret_msg != NULL)
		*ret_msg = NULL;
	if (rd == NULL || fd < 0 || ret_msg == NULL)
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	r = read_fd(rd, fd, chunk, ret_msg);
	explicit_bzero(chunk, sizeof(chunk));
	return r;
}

/* A JSON text being written (out != NULL) or measured. */
struct jw {
	char	*out;
	size_t	 len;
	int	 flags;
	int	 err;
};

static void
jw_put(struct jw *w, const char *s, size_t n)
{
	if (w->out != NULL)
		memcpy(w->out + w->len, s, n);
	w->len += n;
}

/* A string, escaped as json-c's json_escape_str() does. */
static void
jw_str(struct jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const char *esc;
	char u[7];
	size_t i, start = 0;
	unsigned char c;

	jw_put(w, "\"", 1);
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		esc = NULL;
		switch (c) {
		case '\b':
			esc = "\\b";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '\f':
			esc = "\\f";
			break;
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '/':
			if (!(w->flags & JSON_C_TO_STRING_NOSLASHESCAPE))
				esc = "\\/";
			break;
		default:
			if (c < 0x20) {
				memcpy(u, "\\u00", 4);
				u[4] = hex[c >> 4];
				u[5] = hex[c & 0xf];
				u[6] = '\0';
				esc = u;
			}
			break;
		}
		if (esc == NULL)
			continue;
		jw_put(w, s + start, i - start);
		jw_put(w, esc, strlen(esc));
		start = i + 1;
	}
	jw_put(w, s + start, n - start);
	jw_put(w, "\"", 1);
}

static void
jw_value(struct jw *w, struct json_object *o)
{
	const char *s;
	size_t i, n;
	int first = 1;

	switch (json_object_get_type(o)) {
	case json_type_object: {
		jw_put(w, "{", 1);
		json_object_object_foreach(o, key, val) {
			if (!first)
				jw_put(w, ",", 1);
			first = 0;
			jw_str(w, key, strlen(key));
			jw_put(w, ":", 1);
			jw_value(w, val);
		}
		jw_put(w, "}", 1);
		break;
	}
	case json_type_array:
		jw_put(w, "[", 1);
		n = json_object_array_length(o);
		for (i = 0; i < n; i++) {
			if (i > 0)
				jw_put(w, ",", 1);
			jw_value(w, json_object_array_get_idx(o, i));
		}
		jw_put(w, "]", 1);
		break;
	case json_type_string:
		jw_str(w, json_object_get_string(o),
		    (size_t)json_object_get_string_len(o));
		break;
	case json_type_null:
		jw_put(w, "null", 4);
		break;
	default:
		/* a number or boolean: json-c's text of it, no secret */
		if ((s = json_object_to_json_string_length(o, w->flags,
		    &n)) == NULL) {
			w->err = 1;
			break;
		}
		jw_put(w, s, n);
		break;
	}
}

/* see ipc.h */
int
m2m_json_text(struct json_object *o, int flags, size_t max, char **ret_buf,
    size_t *ret_len)
{
	struct jw w;

	*ret_buf = NULL;
	*ret_len = 0;
	memset(&w, 0, sizeof(w));
	w.flags = flags & JSON_C_TO_STRING_NOSLASHESCAPE;
	jw_value(&w, o);
	if (w.err)
		return M2M_IPC_ERR_NO_MEMORY;
	if (w.len > max)
		return M2M_IPC_ERR_FRAME_TOO_LARGE;
	if ((w.out = malloc(w.len + 1)) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	w.len = 0;
	jw_value(&w, o);
	if (w.err) {
		explicit_bzero(w.out, w.len);
		free(w.out);
		return M2M_IPC_ERR_NO_MEMORY;
	}
	w.out[w.len] = '\0';
	*ret_buf = w.out;
	*ret_len = w.len;
	return 0;
}

/*
 * Serialises root into a new NUL-terminated frame.  Not with json-c's
 * json_object_to_json_string(): its printbuf grows by realloc(), leaving
 * the text so far (a plaintext, a key) in blocks freed unwiped.
 */
static int
encode(struct json_object *root, char **ret_buf, size_t *ret_len)
{
	size_t len;
	char *buf;
	int r;

	if ((r = m2m_json_text(root, JSON_C_TO_STRING_NOSLASHESCAPE,
	    M2M_IPC_FRAME_MAX, &buf, &len)) != 0)
		return r;
	/* nothing the reader at the other end would refuse */
	if (has_nul_escape(buf, len)) {
		explicit_bzero(buf, len);
		free(buf);
		return M2M_IPC_ERR_NUL_ESCAPE;
	}
	*ret_buf = buf;
	*ret_len = len + 1;
	return 0;
}

/* {key: name, "parameters": params} (either member left out if NULL). */
static int
encode_msg(const char *key, const char *name, struct json_object *params,
    char **ret_buf, size_t *ret_len)
{
	struct json_object *root = NULL, *v;
	int r = M2M_IPC_ERR_INTERNAL;

	if (ret_buf == NULL || ret_len == NULL)
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	if (params != NULL && !json_object_is_type(params, json_type_object))
		return M2M_IPC_ERR_PARAMETERS_TYPE;
	if ((root = json_object_new_object()) == NULL) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	if (key != NULL) {
		if ((v = json_object_new_string(name)) == NULL ||
		    json_object_object_add(root, key, v) != 0) {
			json_object_put(v);
			r = M2M_IPC_ERR_NO_MEMORY;
			goto out;
		}
	}
	if (params != NULL) {
		if (json_object_object_add(root, "parameters",
		    json_object_get(params)) != 0) {
			json_object_put(params);
			r = M2M_IPC_ERR_NO_MEMORY;
			goto out;
		}
	}
	r = encode(root, ret_buf, ret_len);
 out:
	json_object_put(root);
	return r;
}

/* see ipc.h */
int
m2m_ipc_encode_call(const char *method, struct json_object *params,
    char **ret_buf, size_t *ret_len)
{
	if (!m2m_ipc_name_valid(method))
		return M2M_IPC_ERR_METHOD_NAME;
	return encode_msg("method", method, params, ret_buf, ret_len);
}

/* see ipc.h */
int
m2m_ipc_encode_reply(struct json_object *params, char **ret_buf,
    size_t *ret_len)
{
	return encode_msg(NULL, NULL, params, ret_buf, ret_len);
}

/* see ipc.h */
int
m2m_ipc_encode_error(const char *error, struct json_object *params,
    char **ret_buf, size_t *ret_len)
{
	if (!m2m_ipc_name_valid(error))
		return M2M_IPC_ERR_ERROR_NAME;
	return encode_msg("error", error, params, ret_buf, ret_len);
}

/* see ipc.h */
int
m2m_ipc_encode_error_code(int code, struct json_object *params,
    char **ret_buf, size_t *ret_len)
{
	struct json_object *p = NULL, *v = NULL;
	int r = M2M_IPC_ERR_INTERNAL;

	if (params != NULL && !json_object_is_type(params, json_type_object))
		return M2M_IPC_ERR_PARAMETERS_TYPE;
	if (params != NULL) {
		if (json_object_deep_copy(params, &p, NULL) != 0) {
			r = M2M_IPC_ERR_NO_MEMORY;
			goto out;
		}
	} else if ((p = json_object_new_object()) == NULL) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	if ((v = json_object_new_string(m2m_ipc_strerror(code))) == NULL ||
	    json_object_object_add(p, "reason", v) != 0) {
		json_object_put(v);
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	r = m2m_ipc_encode_error(m2m_ipc_error_name(code), p, ret_buf,
	    ret_len);
 out:
	json_object_put(p);
	return r;
}

/* Milliseconds left until deadline (a CLOCK_MONOTONIC time), >= 0. */
static int
remaining_ms(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	if (ms < 0)
		return 0;
	return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

static void
deadline_in(int timeout_ms, struct timespec *ret)
{
	clock_gettime(CLOCK_MONOTONIC, ret);
	if (timeout_ms < 0)
		return;
	ret->tv_sec += timeout_ms / 1000;
	ret->tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ret->tv_nsec >= 1000000000L) {
		ret->tv_sec++;
		ret->tv_nsec -= 1000000000L;
	}
}

/* Waits for events on fd until the deadline; 0, TIMEOUT or IO. */
static int
wait_fd(int fd, short events, int timeout_ms, const struct timespec *dl)
{
	struct pollfd pfd;
	int n;

	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, timeout_ms < 0 ? -1 : remaining_ms(dl));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return M2M_IPC_ERR_IO;
		if (n == 0)
			return M2M_IPC_ERR_TIMEOUT;
		return 0;
	}
}

/* see ipc.h */
int
m2m_ipc_send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	struct timespec dl;
	ssize_t n;
	int r;

	if (fd < 0 || (buf == NULL && len > 0))
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	deadline_in(timeout_ms, &dl);
	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = wait_fd(fd, POLLOUT, timeout_ms, &dl)) != 0)
				return r;
			continue;
		}
		if (n <= 0)
			return M2M_IPC_ERR_IO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* see ipc.h */
int
m2m_ipc_recv(struct m2m_ipc_reader *rd, int fd, int timeout_ms,
    struct m2m_ipc_msg **ret_msg)
{
	struct m2m_ipc_msg *msg = NULL;
	struct timespec dl;
	int r;

	if (ret_msg == NULL)
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	*ret_msg = NULL;
	deadline_in(timeout_ms, &dl);
	for (;;) {
		/*
		 * Wait first: a reply is seldom there already, and a read
		 * that finds nothing would cost a system call for nothing.
		 */
		if (!m2m_ipc_reader_buffered(rd) &&
		    (r = wait_fd(fd, POLLIN, timeout_ms, &dl)) != 0)
			return r;
		if ((r = m2m_ipc_reader_read_fd(rd, fd, &msg)) != 0)
			return r;
		if (msg != NULL) {
			*ret_msg = msg;
			return 0;
		}
	}
}

/* see ipc.h */
int
m2m_ipc_call(int fd, const char *method, struct json_object *params,
    int timeout_ms, struct m2m_ipc_msg **ret_reply)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *msg = NULL;
	struct timespec dl;
	char *buf = NULL;
	size_t len = 0;
	int left, r = M2M_IPC_ERR_INTERNAL;

	if (ret_reply == NULL)
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	deadline_in(timeout_ms, &dl);
	if ((r = m2m_ipc_encode_call(method, params, &buf, &len)) != 0)
		goto out;
	if ((r = m2m_ipc_reader_new(M2M_IPC_REPLIES, &rd)) != 0)
		goto out;
	if ((r = m2m_ipc_send_all(fd, buf, len, timeout_ms)) != 0)
		goto out;
	left = timeout_ms < 0 ? -1 : remaining_ms(&dl);
	if ((r = m2m_ipc_recv(rd, fd, left, &msg)) != 0)
		goto out;
	*ret_reply = msg;
	msg = NULL;	/* transferred */
	r = 0;
 out:
	m2m_ipc_msg_free(msg);
	m2m_ipc_reader_free(rd);
	free(buf);
	return r;
}

/*
 * daemon/common: framing of the flow IPC (docs/protocol.md, "Framing").
 *
 * A frame is one JSON object followed by one NUL byte (varlink style):
 *   call:   {"method": "io.m2mtoken.X", "parameters": {...}}
 *   reply:  {"parameters": {...}}
 *   error:  {"error": "io.m2mtoken.Y", "parameters": {...}}
 * "parameters" may be absent (read as {}); no other top-level member is
 * accepted.  A frame holds at most M2M_IPC_FRAME_MAX bytes before its NUL.
 *
 * The reader is incremental and never blocks: an event loop feeds it the
 * bytes it has, and gets whole messages out.  The blocking helpers at the
 * end are for the client library.  Errors are M2M_IPC_ERR_* (errors.h).
 */
#ifndef M2M_DCOMMON_IPC_H
#define M2M_DCOMMON_IPC_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "errors.h"

/* Bytes of JSON text in one frame, its NUL not counted. */
#define M2M_IPC_FRAME_MAX	(64 * 1024)
/* Nesting depth json-c accepts (the frame's object is depth 1). */
#define M2M_IPC_DEPTH_MAX	16
/* Longest method or error name, "io.m2mtoken." included. */
#define M2M_IPC_NAME_MAX	128
#define M2M_IPC_NAME_PREFIX	"io.m2mtoken."

/* What a reader expects on its stream. */
enum m2m_ipc_kind {
	M2M_IPC_CALLS = 1,	/* the daemon's side: method calls */
	M2M_IPC_REPLIES = 2	/* a client's side: replies and errors */
};

struct m2m_ipc_reader;
struct m2m_ipc_msg;

/*
 * 1 if name is "io.m2mtoken." followed by one or more of [A-Za-z] and at
 * most M2M_IPC_NAME_MAX bytes in all, else 0.  Method and error names.
 */
int m2m_ipc_name_valid(const char *name);

/*
 * The number of members of the outermost object of a JSON text json-c
 * parsed: the colons outside strings at depth 1.  More than json-c's
 * object holds means a member came twice (json-c keeps the last).
 * SIZE_MAX if a single quote stands outside strings (json-c reads 'name'
 * as a member name; the count would be out of step).
 */
size_t	m2m_ipc_top_members(const char *text, size_t len);

/*
 * 1 if each member name of the outermost object of the JSON text (len
 * bytes) is plain (no escape) and comes once, max of them at most (at
 * most M2M_IPC_NAMES_MAX), else 0.  For a text that may carry a secret,
 * checked before json-c parses it: json-c keeps the last of two equal
 * members and frees the first while it parses, unwiped.  A name with an
 * escape could spell another one; a single quote outside strings (json-c
 * reads 'name' as a member name) makes it 0 too.  Only a scan: json-c
 * still decides whether the text is JSON at all.
 */
#define M2M_IPC_NAMES_MAX	64
int	m2m_ipc_names_once(const char *text, size_t len, size_t max);

/*
 * A new reader for a stream of kind (M2M_IPC_CALLS or M2M_IPC_REPLIES).
 * It allocates its buffer as bytes arrive, never more than
 * M2M_IPC_FRAME_MAX + 1 bytes.  *ret_rd on success; free with
 * m2m_ipc_reader_free().  M2M_IPC_ERR_INVALID_ARGUMENT, _NO_MEMORY.
 */
int m2m_ipc_reader_new(enum m2m_ipc_kind kind,
    struct m2m_ipc_reader **ret_rd);

/* Frees rd and any partial frame, wiped; NULL is fine. */
void m2m_ipc_reader_free(struct m2m_ipc_reader *rd);

/* Bytes rd has allocated for its frame now (never > M2M_IPC_FRAME_MAX). */
size_t m2m_ipc_reader_capacity(const struct m2m_ipc_reader *rd);

/*
 * Hands rd the next len bytes of the stream.  It takes the bytes up to and
 * including the first NUL, or all of them if there is none, and says in
 * *ret_used how many it took; the caller hands the rest (the start of the
 * next frame) in another call.
 *   0, *ret_msg NULL:  all len bytes taken, no whole frame yet ("need more").
 *   0, *ret_msg set:   one whole, valid message (caller frees it); the
 *                      *ret_used bytes end with its NUL.
 *   < 0:               the frame failed: INVALID_JSON, INVALID_UTF8,
 *                      TOO_DEEP, NUL_ESCAPE, NOT_OBJECT, NO_METHOD,
 *                      DUPLICATE_MEMBER, METHOD_TYPE, METHOD_NAME,
 *                      UNKNOWN_MEMBER, PARAMETERS_TYPE, ERROR_NAME
 *                      (*ret_used ends with its NUL: the
 *                      reader is ready for the next frame), or
 *                      FRAME_TOO_LARGE, found as soon as more than
 *                      M2M_IPC_FRAME_MAX bytes come without a NUL, before
 *                      any of them is stored: the stream cannot be
 *                      resynchronised and every later call fails the same
 *                      way (close the connection), or NO_MEMORY.
 * *ret_used is always written; *ret_msg is NULL unless a message is given.
 */
int m2m_ipc_reader_feed(struct m2m_ipc_reader *rd, const void *data,
    size_t len, size_t *ret_used, struct m2m_ipc_msg **ret_msg);

/*
 * The peer closed its end: 0 if rd holds no partial frame (M2M_IPC_ERR_EOF
 * is then the caller's to report), M2M_IPC_ERR_TRUNCATED if it does.
 */
int m2m_ipc_reader_eof(const struct m2m_ipc_reader *rd);

/*
 * Reads what a (non-blocking or ready) stream socket fd has and feeds rd
 * until a frame is whole.  Bytes read past that frame's end stay in rd
 * (m2m_ipc_reader_buffered) and are fed first at the next call, before
 * the socket is read again.  Never blocks: with MSG_DONTWAIT, nothing
 * available is "need more".
 *   0, *ret_msg set or NULL: as m2m_ipc_reader_feed();
 *   M2M_IPC_ERR_EOF: closed between frames; M2M_IPC_ERR_TRUNCATED: closed
 *   inside one; M2M_IPC_ERR_IO: recv failed; the frame errors of feed.
 */
int m2m_ipc_reader_read_fd(struct m2m_ipc_reader *rd, int fd,
    struct m2m_ipc_msg **ret_msg);

/*
 * 1 when rd holds bytes read past the last frame: the next
 * m2m_ipc_reader_read_fd() starts with them, whether or not the socket
 * polls readable (an event loop must not wait for the socket then).
 */
int m2m_ipc_reader_buffered(const struct m2m_ipc_reader *rd);

/*
 * 1 when the last read emptied the socket and rd holds nothing ahead: until
 * the socket polls readable again, a read would only say "need more".
 */
int m2m_ipc_reader_drained(const struct m2m_ipc_reader *rd);

/* Frees msg, its strings wiped (m2m_json_put_wiped); NULL is fine. */
void m2m_ipc_msg_free(struct m2m_ipc_msg *msg);

/* The method of a call, NULL in a reply.  Owned by msg. */
const char *m2m_ipc_msg_method(const struct m2m_ipc_msg *msg);

/* The error name of an error reply, NULL otherwise.  Owned by msg. */
const char *m2m_ipc_msg_error(const struct m2m_ipc_msg *msg);

/* The "parameters" object (an empty one if absent).  Owned by msg. */
struct json_object *m2m_ipc_msg_parameters(const struct m2m_ipc_msg *msg);

/*
 * The "parameters" object taken out of msg, the caller's to put (wiped if
 * it may hold a secret); m2m_ipc_msg_free() then wipes the rest without
 * touching it.  m2m_ipc_msg_parameters(msg) is NULL afterwards.
 */
struct json_object *m2m_ipc_msg_take_parameters(struct m2m_ipc_msg *msg);

/*
 * Writers.  Each serialises one frame into a new buffer *ret_buf of
 * *ret_len bytes, the terminating NUL included (wipe and free() it: it
 * may hold a secret).  params may be
 * NULL (no "parameters" member) and is not consumed.  Fail with
 * M2M_IPC_ERR_METHOD_NAME / _ERROR_NAME for a malformed name,
 * M2M_IPC_ERR_PARAMETERS_TYPE if params is not an object,
 * M2M_IPC_ERR_NUL_ESCAPE if a string or member name holds a NUL,
 * M2M_IPC_ERR_FRAME_TOO_LARGE if the JSON text would exceed
 * M2M_IPC_FRAME_MAX bytes (nothing is returned then), _NO_MEMORY.
 */
int m2m_ipc_encode_call(const char *method, struct json_object *params,
    char **ret_buf, size_t *ret_len);
int m2m_ipc_encode_reply(struct json_object *params, char **ret_buf,
    size_t *ret_len);
int m2m_ipc_encode_error(const char *error, struct json_object *params,
    char **ret_buf, size_t *ret_len);

/*
 * The error reply for r (an M2M_IPC_ERR_*, named by the table of errors.h)
 * with {"reason": m2m_ipc_strerror(r)} merged into params (copied, not
 * consumed; params may be NULL).  As m2m_ipc_encode_error().
 */
int m2m_ipc_encode_error_code(int r, struct json_object *params,
    char **ret_buf, size_t *ret_len);

/*
 * Secrets in json-c.  A frame may carry an E2E plaintext (Seal, Open) or
 * a key (a MEF's Credential), and json-c frees its strings and buffers
 * without wiping them; these helpers do (docs/security-model.md).
 *
 * m2m_json_wipe: zeroes the bytes of every string in the tree o (objects
 * and arrays walked; member names are not secrets and are left).
 * m2m_json_put_wiped: m2m_json_wipe, then json_object_put().  Only for the
 * last reference to a tree: another holder would see its strings zeroed.
 * NULL is fine for both.
 */
void	m2m_json_wipe(struct json_object *o);
void	m2m_json_put_wiped(struct json_object *o);

/*
 * A tokener (json_tokener_new_ex(depth)) to parse at most len bytes of
 * text, its scratch buffer made big enough that it never moves (json-c
 * moves it with realloc(), leaving what it held in freed memory); NULL on
 * failure.  Free with m2m_json_tokener_free(), which wipes that buffer.
 */
struct json_tokener *m2m_json_tokener_new(int depth, size_t len);
void	m2m_json_tokener_free(struct json_tokener *tok);

/*
 * The JSON text of o, as json_object_to_json_string_ext() with
 * JSON_C_TO_STRING_PLAIN (| JSON_C_TO_STRING_NOSLASHESCAPE if in flags),
 * but written once into a buffer of its size: json-c's own grows by
 * realloc() and the text it then holds can only be wiped in its last
 * place.  *ret_buf (NUL-terminated, *ret_len bytes before the NUL; wipe
 * and free() it).  M2M_IPC_ERR_FRAME_TOO_LARGE above max bytes (nothing
 * allocated), _NO_MEMORY.
 */
int	m2m_json_text(struct json_object *o, int flags, size_t max,
	    char **ret_buf, size_t *ret_len);

/*
 * Blocking helpers for clients.  timeout_ms bounds the whole call (< 0:
 * no limit).  fd is a connected stream socket, blocking or not.
 *
 * m2m_ipc_send_all: writes len bytes (MSG_NOSIGNAL); M2M_IPC_ERR_TIMEOUT,
 * _IO.  m2m_ipc_recv: one message from rd/fd, as m2m_ipc_reader_read_fd()
 * but waiting for it; M2M_IPC_ERR_TIMEOUT if none came in time.
 * m2m_ipc_call: encodes the call, sends it, reads the reply (an error
 * reply is a reply: look at m2m_ipc_msg_error()); *ret_reply on success.
 */
int m2m_ipc_send_all(int fd, const void *buf, size_t len, int timeout_ms);
int m2m_ipc_recv(struct m2m_ipc_reader *rd, int fd, int timeout_ms,
    struct m2m_ipc_msg **ret_msg);
int m2m_ipc_call(int fd, const char *method, struct json_object *params,
    int timeout_ms, struct m2m_ipc_msg **ret_reply);

#endif /* M2M_DCOMMON_IPC_H */

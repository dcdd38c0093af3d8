/*
 * m2m-mef: log lines (log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mef.h"

#define VALUE_MAX	255
#define LINE_MAX_	4096

/* see log.h */
void
mef_log(const char *fmt, ...)
{
	char buf[LINE_MAX_];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "m2m-mef: %s\n", buf);
}

/* see log.h */
void
mef_log_quote(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;
	unsigned char c;

	if (cap < 3) {
		if (cap > 0)
			out[0] = '\0';
		return;
	}
	if (s == NULL)
		s = "-";
	out[o++] = '"';
	for (i = 0; s[i] != '\0' && i < VALUE_MAX; i++) {
		c = (unsigned char)s[i];
		if (o + 6 >= cap)
			break;
		/* >= 0x80: no C1 control (CSI 0x9b) reaches a terminal */
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else
			out[o++] = (char)c;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* The decision line into line (LINE_MAX_ bytes), cut if need be. */
static void
decision_line(char *line, const char *event, const char *who,
    const char *peer, const char *outcome, const char *reason,
    const char *const *extra)
{
	char q[VALUE_MAX * 4 + 3];
	size_t o = 0;
	int n;

	line[0] = '\0';
#define ADD(...) do {							\
	n = snprintf(line + o, LINE_MAX_ - o, __VA_ARGS__);		\
	if (n < 0 || (size_t)n >= LINE_MAX_ - o)			\
		return;							\
	o += (size_t)n;							\
} while (0)
	ADD("event=%s", event);
	mef_log_quote(q, sizeof(q), who);
	ADD(" who=%s", q);
	mef_log_quote(q, sizeof(q), peer);
	ADD(" peer=%s", q);
	ADD(" outcome=%s", outcome);
	if (reason != NULL) {
		mef_log_quote(q, sizeof(q), reason);
		ADD(" reason=%s", q);
	}
	for (; extra != NULL && extra[0] != NULL && extra[1] != NULL;
	    extra += 2) {
		mef_log_quote(q, sizeof(q), extra[1]);
		ADD(" %s=%s", extra[0], q);
	}
#undef ADD
}

/* see log.h */
void
mef_log_decision(const char *event, const char *who, const char *peer,
    const char *outcome, const char *reason, const char *const *extra)
{
	char line[LINE_MAX_];

	decision_line(line, event, who, peer, outcome, reason, extra);
	fprintf(stderr, "m2m-mef: %s\n", line);
}

/* see log.h */
void
mef_log_decision_limited(struct mef_log_limit *l, const char *event,
    const char *who, const char *peer, const char *outcome,
    const char *reason, const char *const *extra)
{
	char line[LINE_MAX_];
	unsigned long dropped = 0;

	if (!m2m_rate_pass(&l->rate, &dropped))
		return;
	decision_line(line, event, who, peer, outcome, reason, extra);
	if (dropped != 0)
		fprintf(stderr, "m2m-mef: %s (%lu more like it not logged)\n",
		    line, dropped);
	else
		fprintf(stderr, "m2m-mef: %s\n", line);
}

/* see mef.h */
const char *
mef_strerror(int r)
{
	switch (r) {
	case MEF_OK: return "success";
	case MEF_ERR_INTERNAL: return "internal error";
	case MEF_ERR_INVALID: return "invalid argument";
	case MEF_ERR_NOMEM: return "out of memory";
	case MEF_ERR_NOTFOUND: return "not found";
	case MEF_ERR_EXISTS: return "already exists";
	case MEF_ERR_REGISTRY: return "registry error";
	case MEF_ERR_VERSION: return "unknown registry schema version";
	case MEF_ERR_TOKEN: return "token error";
	case MEF_ERR_CONF: return "configuration error";
	case MEF_ERR_IO: return "cannot read a file";
	case MEF_ERR_KIND: return "the ID is the other kind's (enrolee or "
	    "target)";
	default: return "unknown error";
	}
}

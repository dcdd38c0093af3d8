/*
 * The object model: an object is its class, key type, role, a list of
 * plain attributes and the backend-wrapped secret.  CKA_VALUE is never an
 * attribute here; secret bytes exist only wrapped (blob) or, for one
 * operation, in a struct m2m_secret.
 */
#ifndef M2M_OBJECT_H
#define M2M_OBJECT_H

#include <stddef.h>
#include <stdint.h>

#include <m2mtoken/pkcs11-m2m.h>

/* longest attribute value accepted (<m2mtoken/pkcs11-m2m.h>) */
#define M2M_ATTR_MAX_LEN	CK_M2M_ATTR_MAX_LEN
#define M2M_ATTRS_MAX		64	/* most attributes per object/template */

struct m2m_secret;

#define M2M_OBJECT_DIGEST_LEN	32	/* SHA-256 */
/* The message m2m_object_bind_msg() makes: domain string || digest. */
#define M2M_OBJECT_BIND_DOMAIN	"m2mtoken object binding v1"
#define M2M_OBJECT_BIND_MSG_LEN	(sizeof(M2M_OBJECT_BIND_DOMAIN) - 1 + \
				    M2M_OBJECT_DIGEST_LEN)

struct m2m_attr {
	unsigned long	 type;	/* CKA_* */
	uint8_t		*val;	/* malloc'd; NULL when len == 0 */
	size_t		 len;
};

struct m2m_object {
	uint64_t	 id;		/* store rowid (token objects) or
					   session-object id; 0 = not yet */
	uint64_t	 token_id;
	int		 on_token;	/* CKA_TOKEN */
	unsigned long	 cls;		/* CKA_CLASS */
	unsigned long	 key_type;	/* CKA_KEY_TYPE, (unsigned long)-1 none */
	unsigned long	 role;		/* CKA_M2M_ROLE, 0 = role-less */
	/*
	 * How the key came to be (enum m2m_origin of policy.h: import,
	 * generation, derivation; 0 unknown) and, for a derived key, its
	 * base key's identity: object id (token rowid, never reused, or
	 * session id) and the digest of the base's wrapped blobs
	 * (m2m_object_set_base).  Stored in their own columns and bound by
	 * the row's MAC (store.h); not PKCS#11 attributes.
	 */
	unsigned int	 origin;
	uint64_t	 base_id;	/* 0: not derived */
	uint8_t		 base_digest[M2M_OBJECT_DIGEST_LEN];
	struct m2m_attr	*attrs;
	size_t		 nattrs;
	uint8_t		*blob;		/* wrapped secret; may be NULL */
	size_t		 bloblen;
	uint8_t		*aux;		/* wrapped TLS-PSK premaster form */
	size_t		 auxlen;
	/*
	 * The value itself, in locked memory, for a TLS_MASTER session
	 * object only (contract section 3: a session secret, extractable by
	 * design, never stored): it has no blob.  NULL for every other key.
	 */
	struct m2m_secret *plain;
	/*
	 * A key derived for delivery (a MEF's Kpsa / Kuc, role-less): a
	 * session key for good, never copied onto the token (policy.c,
	 * m2m_policy_apply).  Session objects only, so never stored.
	 */
	unsigned int	 delivered;
	unsigned int	 extra_refs;	/* holders besides the first; see
					   m2m_object_ref() */
	/*
	 * What the policy asks at every use, read from the attribute list
	 * when it changes (m2m_object_attr_set, m2m_object_sync_fields), not
	 * at each use: valid is 0 until then (a hand-made object), and the
	 * policy scans the list instead.  Read through m2m_policy_*.
	 */
	struct m2m_object_facts {
		unsigned int	 valid;
		unsigned int	 priv;		/* CKA_PRIVATE (default TRUE) */
		enum {
			M2M_EXPIRES_NEVER = 0,	/* none, or empty */
			M2M_EXPIRES_AT,		/* at expires_at */
			M2M_EXPIRES_BAD		/* unparsable: fail closed */
		}		 expires;
		int64_t		 expires_at;	/* Unix time */
	}		 facts;
};

/* A new empty object; 0 or M2M_ERR_NO_MEMORY. */
int	m2m_object_new(struct m2m_object **ret);
/*
 * Drop one reference: the last one frees attributes, blobs and the object.
 * NULL accepted.  A new object has one reference.
 */
void	m2m_object_free(struct m2m_object *o);
/*
 * Take one more reference to o and return o (thread-safe count).  While an
 * object has more than one holder it must not be changed: a holder that
 * wants to change it works on an m2m_object_dup() copy.
 */
struct m2m_object *m2m_object_ref(struct m2m_object *o);
/* 1 when o has more than one holder, else 0. */
int	m2m_object_shared(const struct m2m_object *o);
/* Deep copy, with one reference of its own. */
int	m2m_object_dup(const struct m2m_object *o, struct m2m_object **ret);
/* The attribute of that type, or NULL. */
const struct m2m_attr *m2m_object_attr(const struct m2m_object *o,
	    unsigned long type);
/* Set (replace or add) an attribute with a copy of val[0..len). */
int	m2m_object_attr_set(struct m2m_object *o, unsigned long type,
	    const void *val, size_t len);
/* Typed helpers: CK_BBOOL attribute as 0/1 (def when absent); CK_ULONG. */
int	m2m_object_bool(const struct m2m_object *o, unsigned long type,
	    int def);
int	m2m_object_attr_set_bool(struct m2m_object *o, unsigned long type,
	    int v);
int	m2m_object_attr_set_ulong(struct m2m_object *o, unsigned long type,
	    unsigned long v);
/* Replace o's blob / aux blob with copies. */
int	m2m_object_set_blob(struct m2m_object *o, const uint8_t *b, size_t n);
int	m2m_object_set_aux(struct m2m_object *o, const uint8_t *b, size_t n);

/*
 * Serialise the attribute list (not id, not blobs) for the store:
 * repeated { u32be type-low, u32be type-high, u32be len, bytes }.
 * *ret is malloc'd.
 */
int	m2m_object_attrs_encode(const struct m2m_object *o, uint8_t **ret,
	    size_t *ret_len);
/*
 * Parse what m2m_object_attrs_encode wrote into o's attribute list
 * (replacing it) and refresh cls/key_type/role/on_token from it.
 * Truncated or oversized input: M2M_ERR_STORE_CORRUPT, o unchanged.
 */
int	m2m_object_attrs_decode(struct m2m_object *o, const uint8_t *p,
	    size_t len);
/*
 * Refresh cls, key_type, role, on_token and the facts from the attribute
 * list.
 */
void	m2m_object_sync_fields(struct m2m_object *o);

/*
 * Make o a key derived from base: o->base_id = base->id and o->base_digest
 * = SHA-256(u32be len || blob || u32be len || aux) of base.  0, or
 * M2M_ERR_NO_MEMORY / M2M_ERR_INTERNAL (OpenSSL) with o unchanged.
 */
int	m2m_object_set_base(struct m2m_object *o,
	    const struct m2m_object *base);
/* 1 if o was derived from base (same id and blob digest), else 0. */
int	m2m_object_derived_from(const struct m2m_object *o,
	    const struct m2m_object *base);

/*
 * The message the backend MACs to bind row id of token token_id to what
 * it holds (store.h): M2M_OBJECT_BIND_DOMAIN followed by SHA-256 of the
 * length-prefixed encoding
 *
 *   u32be len || M2M_OBJECT_BIND_DOMAIN
 *   u64be token_id, id, cls, key_type, role, origin, base_id
 *   u32be len || base_digest
 *   u32be len || attrs[0..attrslen)	(m2m_object_attrs_encode() bytes)
 *   u32be len || blob			(0 when none)
 *   u32be len || aux			(0 when none)
 *
 * with cls, key_type, role, origin, base and blobs taken from o, and the
 * attribute list as attrs gives it (the stored bytes).  out must hold
 * M2M_OBJECT_BIND_MSG_LEN bytes.  0, or M2M_ERR_NO_MEMORY /
 * M2M_ERR_INTERNAL (OpenSSL); out is written only on success.
 */
int	m2m_object_bind_msg(const struct m2m_object *o, uint64_t token_id,
	    uint64_t id, const uint8_t *attrs, size_t attrslen, uint8_t *out);

#endif /* M2M_OBJECT_H */

/*
 * tests/fuzz: an m2m_tls client context (tls/tls_int.h) over the module of
 * p11env.h, for the targets of libm2mtls.  libm2mtls dlopens the module;
 * targets that link tlsenv.c are linked with --wrap=m2m_p11_load and
 * --wrap=m2m_p11_unload (tests/fuzz/CMakeLists.txt), which hand it the
 * module linked into the target instead.
 */
#ifndef M2M_FUZZ_TLSENV_H
#define M2M_FUZZ_TLSENV_H

struct m2m_tls;

/*
 * The context (made once per process; PSK identity FUZZ_KPSA_LABEL, the
 * user logged in).  Aborts with a message on any failure.
 */
struct m2m_tls *fuzz_tls_get(void);

#endif /* M2M_FUZZ_TLSENV_H */

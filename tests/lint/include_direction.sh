#!/usr/bin/env bash
# Lint: the direction of #include between the source folders (README.md,
# "Layout"; docs/architecture.md).
#   token/          no header from pkcs11/ hsm/ tpm/ daemon/ tls/,
#                   no <openssl/ssl.h>
#   hsm/, tpm/      from token/ only backend.h err.h log.h secret.h conf.h;
#                   nothing from pkcs11/ daemon/ tls/ or the other backend
#   pkcs11/         nothing from hsm/ tpm/ daemon/ tls/ (backends only
#                   through token/), and no call of a backend op
#                   (be->ops->..., ->impl): key operations go through
#                   token/core.h and token/kdf.h
#   tls/            nothing from token/ hsm/ tpm/ pkcs11/ daemon/ (keys
#                   only through the PKCS#11 API: public headers)
#   daemon/         nothing from token/ hsm/ tpm/ pkcs11/ tls/ (keys only
#                   through the PKCS#11 API: public headers of include/,
#                   <m2mtoken/tls.h> among them, and its own folders)
#   p11wire/        nothing from any other folder (the client-mode wire,
#                   shared by pkcs11/ and daemon/: public headers only)
# Prints each violation as file:line and fails if there is any.
# Usage: include_direction.sh [SOURCE_ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}

exec python3 - "$root" <<'PY'
import os, re, sys

root = sys.argv[1]
FOLDERS = ["token", "hsm", "tpm", "pkcs11", "daemon", "tls", "p11wire"]
TOKEN_FOR_BACKENDS = {"backend.h", "err.h", "log.h", "secret.h", "conf.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
# a backend op called or its private state touched: ops->x, ->impl
BACKEND_CALL = re.compile(r'(->|\.)\s*ops\s*->|->\s*impl\b|\.impl\b')

def origin(folder, kind, name, here):
    """The project folder a header comes from, or None (system/include/)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if len(parts) > 1:
        # "../token/x.h", "token/x.h": the folder named just before the file
        if parts[-2] in FOLDERS:
            return parts[-2]
        return None
    if kind == "<":
        return None
    # a bare "x.h": the including file's own directory (daemon/common/
    # beside its sources), the including folder, then token/ (on every
    # backend's include path), then any other folder that has it
    if os.path.isfile(os.path.join(here, name)):
        return folder
    for f in [folder, "token"] + FOLDERS:
        if os.path.isfile(os.path.join(root, f, name)):
            return f
    return None

def check(folder, kind, name, src):
    base = name.split("/")[-1]
    if folder == "token":
        if src in ("pkcs11", "hsm", "tpm", "daemon", "tls"):
            return f"token/ must not include {src}/ headers"
        if name == "openssl/ssl.h":
            return "token/ must not include <openssl/ssl.h> (no TLS in the core)"
    elif folder in ("hsm", "tpm"):
        other = "tpm" if folder == "hsm" else "hsm"
        if src == "token" and base not in TOKEN_FOR_BACKENDS:
            return (f"{folder}/ may include from token/ only "
                    + ", ".join(sorted(TOKEN_FOR_BACKENDS)))
        if src in ("pkcs11", "daemon", "tls", other):
            return f"{folder}/ must not include {src}/ headers"
    elif folder == "pkcs11":
        if src in ("hsm", "tpm", "daemon", "tls"):
            return (f"pkcs11/ must not include {src}/ headers (backends "
                    "only through token/)")
    elif folder == "tls":
        if src in ("token", "hsm", "tpm", "pkcs11", "daemon"):
            return ("tls/ reaches keys only through the PKCS#11 API "
                    "(include/ public headers only)")
    elif folder == "p11wire":
        if src not in (None, "p11wire"):
            return ("p11wire/ includes public headers only (pkcs11/ and "
                    "daemon/ both use it)")
    elif folder == "daemon":
        if src in ("token", "hsm", "tpm", "pkcs11", "tls"):
            return ("daemon/ reaches keys only through the PKCS#11 API "
                    "(include/ public headers only)")
    return None

bad = 0
for folder in ("token", "hsm", "tpm", "pkcs11", "tls", "daemon", "p11wire"):
    top = os.path.join(root, folder)
    if not os.path.isdir(top):
        continue
    for dirpath, _, files in sorted(os.walk(top)):
        for fn in sorted(files):
            if not fn.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, fn)
            rel = os.path.relpath(path, root)
            with open(path, errors="replace") as fh:
                for n, line in enumerate(fh, 1):
                    if folder == "pkcs11" and BACKEND_CALL.search(line):
                        print(f"{rel}:{n}: pkcs11/ calls no backend op "
                              "(key operations through token/core.h, "
                              "token/kdf.h)")
                        bad += 1
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    kind, name = m.groups()
                    why = check(folder, kind, name,
                                origin(folder, kind, name, dirpath))
                    if why:
                        print(f"{rel}:{n}: #include {kind}{name}{'>' if kind == '<' else kind}: {why}")
                        bad += 1
if bad:
    print(f"{bad} include direction violation(s)")
    sys.exit(1)
print("include direction: ok")
PY

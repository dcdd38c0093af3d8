# shellcheck shell=bash
# Shared helpers for scripts/test and scripts/demo. Source it; do not run it.
#
#   m2m_cd_root          cd to the repository root (found from this file)
#   m2m_deps             print the package names listed in scripts/deps.txt
#   m2m_missing_deps     print those that are not installed
#   m2m_ensure_deps      install the missing ones (root only), or fail clearly
#   m2m_section TITLE    print a phase header

M2M_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
M2M_DEPS_FILE=${M2M_DEPS_FILE:-$M2M_ROOT/scripts/deps.txt}

m2m_cd_root()
{
	cd "$M2M_ROOT" || exit 1
}

m2m_section()
{
	printf '\n==== %s ====\n' "$*"
}

m2m_die()
{
	printf '%s: error: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

m2m_deps()
{
	[ -r "$M2M_DEPS_FILE" ] || m2m_die "cannot read $M2M_DEPS_FILE"
	sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$M2M_DEPS_FILE"
}

m2m_missing_deps()
{
	local pkg status

	for pkg in $(m2m_deps); do
		status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) || status=
		case $status in
		*" ok installed") ;;
		*) printf '%s\n' "$pkg" ;;
		esac
	done
}

m2m_ensure_deps()
{
	local missing

	command -v dpkg-query >/dev/null 2>&1 ||
	    m2m_die "dpkg-query not found: these scripts expect Debian 12"
	missing=$(m2m_missing_deps | paste -sd ' ')
	if [ -z "$missing" ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		m2m_die "missing Debian packages: $missing
Run this script as root so it can install them, or install them first:
    apt-get install --no-install-recommends $missing"
	fi
	m2m_section "installing Debian packages: $missing"
	apt-get update </dev/null || m2m_die "apt-get update failed"
	# shellcheck disable=SC2086 # word splitting of the package list is wanted
	DEBIAN_FRONTEND=noninteractive apt-get install -y \
	    --no-install-recommends $missing </dev/null ||
	    m2m_die "apt-get could not install: $missing"
	missing=$(m2m_missing_deps | paste -sd ' ')
	[ -z "$missing" ] || m2m_die "still missing after apt-get: $missing"
}

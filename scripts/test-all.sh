#!/usr/bin/env bash
# The one test command: installs what the tests need on a fresh Debian machine
# (restic 0.14 as interop peer; npm dependencies), builds, type-checks, runs the static checks
# (npm run lint: eslint, prettier --check, dependency-cruiser, knip) and every test in all four vitest
# projects (unit, interop, backends, cli). A failed static check fails the run but does not
# stop the tests; the last line is always the test summary.
set -euo pipefail
cd "$(dirname "$0")/.."

# restic: interop peer; openssh-server: SFTP tests; ceph-mon/ceph-osd/radosgw: real S3 (Ceph RGW).
need_apt=()
command -v restic >/dev/null 2>&1 || need_apt+=(restic)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server openssh-client)
command -v radosgw >/dev/null 2>&1 || need_apt+=(radosgw)
command -v ceph-mon >/dev/null 2>&1 || need_apt+=(ceph-mon)
command -v ceph-osd >/dev/null 2>&1 || need_apt+=(ceph-osd)
# unzip: dump --archive zip is checked by extracting it; ssh: restic reaches SFTP through it.
command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)
# openssl: self-signed certificates for the TLS tests (REST server, --cacert).
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# groff: the man pages of `generate` are checked with it.
command -v groff >/dev/null 2>&1 || need_apt+=(groff-base)
[ -x /usr/bin/ssh ] || need_apt+=(openssh-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
restic version

# The lock file lists every platform's optional packages, so `npm ci` needs no fallback.
npm ci --no-audit --no-fund
npm run build
npx tsc -p tsconfig.test.json --noEmit

set +e
npm run lint
lint_rc=$?
set -e
if [ $lint_rc -eq 0 ]; then lint_status='static checks: passed'; else lint_status="static checks: FAILED (npm run lint exited $lint_rc)"; fi
echo "$lint_status"

mkdir -p test-results
set +e
# every project (unit, interop, backends, cli); "$@" can narrow it, e.g. --project unit
npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@"
rc=$?
set -e
echo "$lint_status"
node scripts/test-summary.mjs test-results/vitest.json || true
if [ $rc -eq 0 ] && [ $lint_rc -ne 0 ]; then rc=$lint_rc; fi
exit $rc

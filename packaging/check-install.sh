#!/usr/bin/env bash
# CI, as root (issue 36 §1): the .deb from packaging/build.sh installs with dpkg -i on this
# machine, puts its files where they belong, makes the fayuan user and group and the folders;
# its unit verifies where it is installed; fayuan, as the fayuan user in /etc/fayuan as the
# service runs it, takes the samples in, reports, and `fayuan health` says well while its daemon
# beats; then the package is removed and purged, and the data is still there.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "check-install: $*" >&2; exit 1; }
deb=$(ls dist/fayuan_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no dist/fayuan_*.deb: run packaging/build.sh first"
[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
if dpkg -s fayuan >/dev/null 2>&1 || [ -e /etc/fayuan ] || [ -e /var/lib/fayuan ]; then
  fail "fayuan is installed on this machine already: not touching it"
fi
user_before=no
getent passwd fayuan >/dev/null && user_before=yes
daemon=
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null || true
  dpkg --purge fayuan >/dev/null 2>&1 || true
  rm -rf /etc/fayuan /var/lib/fayuan
  if [ "$user_before" = no ]; then
    userdel fayuan 2>/dev/null || true
    groupdel fayuan 2>/dev/null || true
  fi
}
trap cleanup EXIT

# The .rpm carries the same files and the same maintainer scripts as the .deb (it cannot be
# installed here; `rpm` reads it).
rpm=$(ls dist/fayuan-*.x86_64.rpm 2>/dev/null | head -1)
[ -n "$rpm" ] || fail "no dist/fayuan-*.rpm"
if command -v rpm >/dev/null; then
  diff <(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {sub(/^\./, "", $6); print $6}' | grep -v /usr/share/doc/fayuan/copyright | sort) \
       <(rpm -qpl "$rpm" 2>/dev/null | sort) || fail "the .rpm and the .deb hold different files"
  rpm -qp --scripts "$rpm" 2>/dev/null | grep -q "groupadd --system fayuan" || fail "the .rpm lacks the maintainer scripts"
  rpm -qp --requires "$rpm" 2>/dev/null | grep -q "wqy-microhei-fonts" || fail "the .rpm does not require a CJK font"
else
  fail "rpm (Debian's package rpm) is needed to read the .rpm"
fi

dpkg -i "$deb"

# The files, the user and group, the folders and their owners.
for f in /usr/bin/fayuan /usr/lib/systemd/system/fayuan.service /usr/share/doc/fayuan/README.md \
  /usr/share/fayuan/examples/luan-2025.toml /usr/share/fayuan/examples/calendar.toml \
  /usr/share/fayuan/samples/luan-2025/霍邱县_2025-06.xlsx; do
  [ -f "$f" ] || fail "$f not installed"
done
/usr/bin/fayuan --version
[ "$(id -gn fayuan)" = fayuan ] || fail "the fayuan user is not in the fayuan group"
case "$(getent passwd fayuan | cut -d: -f7)" in */nologin) ;; *) fail "the fayuan user can log in";; esac
owner() { [ "$(stat -c '%U:%G %a' "$1")" = "$2" ] || fail "$1 is $(stat -c '%U:%G %a' "$1"), expected $2"; }
owner /etc/fayuan "root:fayuan 750"
owner /etc/fayuan/pipelines "root:fayuan 750"
owner /etc/fayuan/credentials "root:root 700"
owner /var/lib/fayuan "fayuan:fayuan 750"
owner /var/lib/fayuan/data "fayuan:fayuan 750"
[ "$(readlink /etc/fayuan/data)" = /var/lib/fayuan/data ] || fail "/etc/fayuan/data is not the link to /var/lib/fayuan/data"
[ -z "$(ls -A /etc/fayuan/pipelines)" ] || fail "the package put a pipeline in place: the service would start unconfigured"

# The unit where systemd reads it.
systemd-analyze verify /usr/lib/systemd/system/fayuan.service

# A sample pipeline, as the admin puts it in place; fayuan as the service runs it.
install -m 0640 -g fayuan /usr/share/fayuan/examples/luan-2025.toml /usr/share/fayuan/examples/calendar.toml /etc/fayuan/pipelines/
# As the service runs it: the fayuan user and group, in /etc/fayuan, umask 0027 (setpriv execs
# the program itself, so a signal reaches it).
export FAYUAN_WEB_TOKEN=bureau-token-for-the-install-check FAYUAN_WEB_SECRET=link-secret-for-the-install-check
as_fayuan() { (cd /etc/fayuan && umask 0027 && exec setpriv --reuid=fayuan --regid=fayuan --init-groups "$@"); }
as_fayuan /usr/bin/fayuan check
as_fayuan /usr/bin/fayuan --as-of "2025-07-06 09:00" ingest /usr/share/fayuan/samples/luan-2025 >/dev/null
as_fayuan /usr/bin/fayuan --as-of "2025-07-06 09:00" run --period 2025-06 --no-email
[ -f /var/lib/fayuan/output/luan-2025/2025-06/manifest.json ] || fail "the report is not in /var/lib/fayuan/output"
[ "$(stat -c '%U:%G' /var/lib/fayuan/data/luan-2025/store)" = fayuan:fayuan ] || fail "the store is not the fayuan user's"
# Staff in the fayuan group read the reports and the archived files; others nothing.
report=$(ls /var/lib/fayuan/output/luan-2025/2025-06/*.xlsx | head -1)
[ "$(stat -c %a "$report")" = 640 ] || fail "$report is $(stat -c %a "$report"), expected 640"
set +e
as_fayuan /usr/bin/fayuan health
code=$?
set -e
[ "$code" = 2 ] || fail "health without a daemon: exit $code, expected 2"
(cd /etc/fayuan && umask 0027 && exec setpriv --reuid=fayuan --regid=fayuan --init-groups \
  /usr/bin/fayuan --output-dir /var/lib/fayuan/output daemon 2>/var/tmp/fayuan-install-check.log) &
daemon=$!
for _ in $(seq 1 60); do
  [ -f /var/lib/fayuan/data/luan-2025/daemon/heartbeat.json ] && break
  sleep 0.5
done
as_fayuan /usr/bin/fayuan health || fail "health with the daemon beating: exit $? ($(tail -5 /var/tmp/fayuan-install-check.log))"
kill -TERM "$daemon"
wait "$daemon" || fail "the daemon did not stop cleanly on SIGTERM"
daemon=

# Removed, then purged: the program goes, the bureau's data stays.
dpkg -r fayuan
[ ! -e /usr/bin/fayuan ] || fail "/usr/bin/fayuan left after removal"
[ -f /var/lib/fayuan/output/luan-2025/2025-06/manifest.json ] || fail "removal took the reports"
dpkg --purge fayuan
[ ! -L /etc/fayuan/data ] || fail "purge left the link /etc/fayuan/data"
[ -f /var/lib/fayuan/data/luan-2025/audit/2025.jsonl ] || fail "purge took the record"
[ -f /etc/fayuan/pipelines/luan-2025.toml ] || fail "purge took the admin's pipeline"
echo "check-install: the package installs, runs, is removed and purged, and the data stays"

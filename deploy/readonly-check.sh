#!/usr/bin/env bash
# Run the built image as `docker run --read-only --tmpfs /tmp -v DATA:/var/lib/spot-sso`
# would, without a container engine: its root file system mounted read only, a tmpfs on
# /tmp, a writable folder of the host on the ledger's volume, UID 10001. Checks that
# /healthz answers, that a token is issued and recorded in the ledger's SQLite file on
# the volume, and that nothing else was written. Needs root, buildah and an image built
# by a container check (default localhost/project-under-test:check).
#
#   deploy/readonly-check.sh [IMAGE]
set -euo pipefail
IMAGE=${1:-localhost/project-under-test:check}
PORT=${CHECK_PORT:-8000}
URL="http://127.0.0.1:$PORT"
SPOT_ID=5b0f3c4e-2a51-4c8e-9d7e-0c1b2a3d4e5f
# Throwaway values made for this check, never a deployment's.
SPOT_KEY=readonly-check-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
API_KEY=sso_readonly-check-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
DIGEST=$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)

fail() { echo "readonly-check: FAIL: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || fail "must run as root (mounts, chroot)"
command -v buildah >/dev/null || fail "buildah not found"

WORK=$(mktemp -d /tmp/readonly-check.XXXXXX)
CTR=$(buildah from --pull=never "$IMAGE")
ROOT=$(buildah mount "$CTR")
PID=
cleanup() {
  set +e
  [[ -n $PID ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  buildah umount "$CTR" >/dev/null; buildah rm "$CTR" >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/data" && chown 10001:10001 "$WORK/data" && chmod 0700 "$WORK/data"

# A mount namespace of its own: the image's root read only, /tmp a tmpfs, the volume.
cat >"$WORK/run.sh" <<EOF
set -e
mkdir -p "$WORK/root"
mount --bind "$ROOT" "$WORK/root"
mount -o remount,bind,ro "$WORK/root"
mount -t tmpfs -o size=64m tmpfs "$WORK/root/tmp"
mount --bind "$WORK/data" "$WORK/root/var/lib/spot-sso"
mount -t proc proc "$WORK/root/proc"
mount --rbind /dev "$WORK/root/dev"
cd / && exec chroot --userspec=10001:10001 "$WORK/root" /usr/bin/env -i \
  PATH=/opt/spot-sso/bin:/usr/local/bin:/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 \
  SPOT_SSO_DATA_DIR=/var/lib/spot-sso SPOT_SSO_HOST=127.0.0.1 SPOT_SSO_PORT=$PORT \
  SPOT_SSO_SPOTS__MAIN__ID=$SPOT_ID SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY=$SPOT_KEY \
  SPOT_SSO_CLIENTS__CHECK__KEY_SHA256=$DIGEST SPOT_SSO_CLIENTS__CHECK__SPOTS=main \
  SPOT_SSO_IDENTITY__ADAPTER=static \
  SPOT_SSO_IDENTITY__STATIC__USERS='[{"id":"u-1","email":"ada@example.com","first_name":"Ada","last_name":"Lovelace"}]' \
  sh -c 'cd /tmp && exec spot-sso serve'
EOF
unshare --mount --propagation private bash "$WORK/run.sh" >"$WORK/log" 2>&1 &
PID=$!

for _ in $(seq 60); do
  curl -sf --noproxy '*' -o /dev/null "$URL/healthz" && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/log"; fail "the service exited"; }
  sleep 1
done
curl -sf --noproxy '*' -o /dev/null "$URL/healthz" || { cat "$WORK/log"; fail "no 200 from /healthz"; }
echo "readonly-check: /healthz answers"

ANSWER=$(curl -s --noproxy '*' -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
  -d '{"spot":"main","userId":"u-1"}' "$URL/tokens")
[[ $ANSWER == *'"token"'* ]] || { cat "$WORK/log"; fail "no token: $ANSWER"; }
echo "readonly-check: POST /tokens issued a token"
READY=$(curl -s --noproxy '*' "$URL/readyz")
[[ $READY == *'"ledger":{"ok":true}'* ]] || fail "the ledger is not ready: $READY"
echo "readonly-check: /readyz reports the ledger ok"

kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=
LOGINS=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select sum(logins) from members').fetchone()[0])" "$WORK/data/ledger.sqlite3")
[[ $LOGINS == 1 ]] || fail "the ledger on the volume holds $LOGINS sign-ins, not 1"
echo "readonly-check: the sign-in is in the ledger on the volume ($(ls "$WORK/data" | tr '\n' ' '))"
grep -q 'Read-only file system' "$WORK/log" && { cat "$WORK/log"; fail "something wrote to the root"; }
echo "readonly-check: PASS (read-only root, tmpfs /tmp, writable volume, UID 10001)"

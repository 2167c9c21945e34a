#!/bin/sh
# Get MeltingSpot tokens from spot-sso, build the "from the app" link and the embed snippet.
#
# Run: SPOT_SSO_API_KEY=<key> sh examples/curl/spot_sso.sh  (POSIX sh, curl 7.84+, jq 1.6+)

set -u

PROBLEM_PREFIX="urn:spot-sso:problem:"

# fail MESSAGE: the one error line on stderr, exit status 1.
fail() {
    printf 'spot-sso error: %s\n' "$1" >&2
    exit 1
}

# issue_token REQUEST_JSON REPLY_FILE: POST /tokens. On 200 the reply is in REPLY_FILE;
# otherwise it returns 1 with $error set (and $status, $retry_after when spot-sso answered).
issue_token() {
    status= retry_after=
    # The API key is read from a header file, never put on curl's command line (`ps` shows
    # that); the request comes on stdin. curl writes the status, media type and
    # Retry-After on three lines (its own header parsing), and its error to a file.
    answer=$(printf '%s' "$1" | curl -sS --max-time 5 --connect-timeout 5 \
        -H "@$work/authorization" -H 'Content-Type: application/json' --data-binary @- \
        -o "$2" -w '%{http_code}\n%{content_type}\n%header{retry-after}' \
        --url "$base_url/tokens" 2>"$work/curl-error") || {
        error="cannot reach $base_url: $(curl_reason $?)"
        return 1
    }
    status=$(printf '%s\n' "$answer" | sed -n 1p)
    [ "$status" = 200 ] && return 0
    media_type=$(printf '%s\n' "$answer" | sed -n 2p | sed 's/;.*//; s/[[:space:]]//g')
    retry_after=$(printf '%s\n' "$answer" | sed -n 3p)
    problem_error "$2" "$media_type"
    return 1
}

# problem_error REPLY_FILE MEDIA_TYPE: sets $error for a non-200 answer, named by its
# problem document.
problem_error() {
    case $retry_after in
    '' | *[!0-9]*) retry_after= ;; # integer seconds only (not an HTTP date)
    esac
    while :; do # "007" is 7 s
        case $retry_after in 0?*) retry_after=${retry_after#0} ;; *) break ;; esac
    done
    # jq fails (the error is then the fallback below) unless the body is one JSON object.
    if [ "$2" = application/problem+json ] && error=$(jq -sr \
        --arg status "$status" --arg retry "$retry_after" --arg prefix "$PROBLEM_PREFIX" '
        if length == 1 and (.[0] | type) == "object" then .[0] else error("not a problem") end
        | ((.type // "") | tostring | ltrimstr($prefix)) as $slug
        | "\($status) \($slug): \(.detail // "")"
          + (if $retry != "" then " Retry after \($retry) s." else "" end)
          + " (request \(.requestId // ""))"' "$1" 2>/dev/null); then
        return
    fi
    error="$status (not a problem document)"
}

# curl_reason EXIT_STATUS: curl's message on one line, "(7) Failed to connect to ..."
# (without its "curl: "), or curl's exit status if it said nothing.
curl_reason() {
    reason=$(sed 's/^curl: //' "$work/curl-error" | tr -s '\r\n' '  ' | sed 's/ *$//')
    printf '%s\n' "${reason:-curl exit status $1}"
}

# json_field FILE KEY: a field of a JSON reply, as text.
json_field() {
    jq -r --arg key "$2" '.[$key]' "$1"
}

if [ -z "${SPOT_SSO_API_KEY-}" ]; then
    printf '%s\n' "spot-sso error: set SPOT_SSO_API_KEY to the API client's key" >&2
    exit 2
fi
base_url=${SPOT_SSO_URL-http://127.0.0.1:8000}
while :; do case $base_url in */) base_url=${base_url%/} ;; *) break ;; esac; done
user_id=${SPOT_SSO_USER_ID-u-ada}
widget_script=${SPOT_WIDGET_SCRIPT-$base_url/demo/spot/widget.js}

# A private scratch directory (mode 700), removed however the script ends.
work=$(mktemp -d) || exit 1
trap 'rm -rf -- "$work"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
# printf is a shell builtin: the key reaches the file without showing in `ps`.
printf 'Authorization: Bearer %s\n' "$SPOT_SSO_API_KEY" >"$work/authorization"

# Every request names the Spot when SPOT_SSO_SPOT is set.
spot=$(jq -n --arg spot "${SPOT_SSO_SPOT-}" 'if $spot != "" then {spot: $spot} else {} end')
grace=$(jq -n '{sub: "u-2001", firstName: "Grace", lastName: "Hopper",
    email: "grace@example.com", lang: "en", timezone: "America/New_York"}')

# A token by userId: spot-sso looks the user up through its identity adapter.
issue_token "$(jq -n --argjson spot "$spot" --arg userId "$user_id" '$spot + {userId: $userId}')" \
    "$work/by-id.json" || fail "$error"
# (A 200 reply that is not the expected JSON stops the script with jq's message.)
by_id_token=$(json_field "$work/by-id.json" token) || exit 1
by_id_expires=$(json_field "$work/by-id.json" expiresAt) || exit 1
printf '%s\n' "token by userId $user_id: $by_id_token (expires $by_id_expires)"

# A token by user body: your backend gives the profile.
issue_token "$(jq -n --argjson spot "$spot" --argjson user "$grace" '$spot + {user: $user}')" \
    "$work/by-user.json" || fail "$error"
grace_sub=$(printf '%s' "$grace" | jq -r .sub)
by_user_token=$(json_field "$work/by-user.json" token) || exit 1
by_user_expires=$(json_field "$work/by-user.json" expiresAt) || exit 1
printf '%s\n' "token by user $grace_sub: $by_user_token (expires $by_user_expires)"

# The "from the app" link: spot-sso logs the user in and opens the Spot's events page.
# @uri percent-encodes each interpolated value (a Spot alias and ID need none).
spot_alias=$(json_field "$work/by-id.json" spot) || exit 1
spot_id=$(json_field "$work/by-id.json" spotId) || exit 1
query=$(jq -rn --arg spot "$spot_alias" --arg referrer "/spot/$spot_id/events" \
    '@uri "spot=\($spot)&referrerUrl=\($referrer)"')
printf '%s\n' "link: $base_url/authorize?$query"

# The widget's installation snippet with the token as its authToken. @html escapes each
# interpolated value (& < > " '); it writes ' as &apos; (jq 1.6) or &#39; (jq 1.7), made
# &#x27; here to print what the other examples print (Python's html.escape).
embed=$(jq -rn --arg src "$widget_script" --arg token "$by_id_token" \
    '@html "<script src=\"\($src)\" data-auth-token=\"\($token)\" async></script>"
     | gsub("&apos;|&#39;"; "&#x27;")')
printf '%s\n' "embed: $embed"

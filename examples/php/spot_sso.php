<?php

/**
 * Get MeltingSpot tokens from spot-sso, build the "from the app" link and the embed snippet.
 *
 * Run: SPOT_SSO_API_KEY=<key> php examples/php/spot_sso.php  (PHP 8.1+, standard library only:
 * HTTP goes through PHP's stream wrapper, so neither the curl extension nor Composer is needed)
 */

declare(strict_types=1);

const PROBLEM_PREFIX = 'urn:spot-sso:problem:';
const TIMEOUT_SECONDS = 5;

/** spot-sso refused the request: an RFC 9457 problem document, or no answer at all. */
final class SpotSsoError extends RuntimeException
{
    public function __construct(
        string $message,
        public readonly ?int $status = null,
        public readonly ?int $retryAfter = null, // seconds to wait, on 429
    ) {
        parent::__construct($message);
    }
}

/**
 * `POST /tokens`: the reply (`token`, `expiresAt`, `spot`, `spotId`...).
 *
 * @param array<string, mixed> $body
 * @return array<string, mixed>
 * @throws SpotSsoError
 */
function issue_token(string $baseUrl, string $apiKey, array $body): array
{
    $context = stream_context_create([
        'http' => [
            'method' => 'POST',
            'header' => implode("\r\n", [
                "Authorization: Bearer {$apiKey}",
                'Content-Type: application/json',
                'Accept: application/json',
            ]),
            'content' => json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES),
            'timeout' => TIMEOUT_SECONDS, // connecting and reading
            'ignore_errors' => true, // give the body of a 4xx/5xx answer instead of failing
            'follow_location' => 0,
        ],
    ]);
    error_clear_last();
    // The @ keeps PHP's own warning ("file_get_contents(...): Failed to open stream: ...")
    // off the output when no answer comes at all; the reason is read below instead.
    $reply = @file_get_contents("{$baseUrl}/tokens", false, $context);
    if ($reply === false) {
        $reason = error_get_last()['message'] ?? 'no answer';
        // Drop the "file_get_contents(<url>): " prefix and keep the reason on one line.
        $reason = preg_replace('/^file_get_contents\(.*?\): /', '', $reason);
        throw new SpotSsoError("cannot reach {$baseUrl}: " . preg_replace('/\s+/', ' ', trim($reason)));
    }
    // PHP 8.4+ has http_get_last_response_headers(); older versions fill the local
    // $http_response_header. Assigning it first keeps PHP 8.5 from flagging the read.
    if (function_exists('http_get_last_response_headers')) {
        $http_response_header = http_get_last_response_headers();
    }
    [$status, $headers] = last_response($http_response_header ?? []);
    if ($status === 200) {
        return json_decode($reply, true, 512, JSON_THROW_ON_ERROR);
    }
    throw problem_error($status, $headers, $reply);
}

/**
 * The status and the headers (lower-cased names) of the last answer in the stream's
 * header lines: each status line ("HTTP/1.1 429 Too Many Requests") starts an answer.
 *
 * @param list<string> $lines
 * @return array{int, array<string, string>}
 */
function last_response(array $lines): array
{
    $status = 0;
    $headers = [];
    foreach ($lines as $line) {
        if (preg_match('#^HTTP/\S+\s+(\d{3})#', $line, $match)) {
            $status = (int) $match[1];
            $headers = [];
        } elseif (str_contains($line, ':')) {
            [$name, $value] = explode(':', $line, 2);
            $headers[strtolower(trim($name))] = trim($value);
        }
    }
    return [$status, $headers];
}

/**
 * The error for a non-200 answer, named by its problem document.
 *
 * @param array<string, string> $headers
 */
function problem_error(int $status, array $headers, string $body): SpotSsoError
{
    $retry = $headers['retry-after'] ?? '';
    $retryAfter = ctype_digit($retry) ? (int) $retry : null;
    $mediaType = trim(explode(';', $headers['content-type'] ?? '')[0]);
    $notProblem = new SpotSsoError("{$status} (not a problem document)", $status, $retryAfter);
    if ($mediaType !== 'application/problem+json') {
        return $notProblem;
    }
    try {
        $problem = json_decode($body, true, 512, JSON_THROW_ON_ERROR);
    } catch (JsonException) {
        return $notProblem;
    }
    if (!is_array($problem)) {
        return $notProblem;
    }
    $type = (string) ($problem['type'] ?? '');
    $slug = str_starts_with($type, PROBLEM_PREFIX) ? substr($type, strlen(PROBLEM_PREFIX)) : $type;
    $message = "{$status} {$slug}: " . ($problem['detail'] ?? '');
    if ($retryAfter !== null) {
        $message .= " Retry after {$retryAfter} s.";
    }
    return new SpotSsoError("{$message} (request " . ($problem['requestId'] ?? '') . ')', $status, $retryAfter);
}

/** The "from the app" link: spot-sso logs the user in and opens the Spot's `$page`. */
function app_link(string $baseUrl, string $spot, string $spotId, string $page = 'events'): string
{
    $query = http_build_query(
        ['spot' => $spot, 'referrerUrl' => "/spot/{$spotId}/{$page}"],
        '',
        '&',
        PHP_QUERY_RFC3986,
    );
    return "{$baseUrl}/authorize?{$query}";
}

/** The widget's installation snippet with the token as its `authToken`. */
function embed_snippet(string $widgetScript, string $token): string
{
    $escape = static fn (string $value): string => htmlspecialchars($value, ENT_QUOTES | ENT_SUBSTITUTE | ENT_HTML5);
    return "<script src=\"{$escape($widgetScript)}\" data-auth-token=\"{$escape($token)}\" async></script>";
}

/** getenv() with a default for an unset variable (an empty one stays empty). */
function env(string $name, string $default = ''): string
{
    $value = getenv($name);
    return $value === false ? $default : $value;
}

function main(): int
{
    $apiKey = env('SPOT_SSO_API_KEY');
    if ($apiKey === '') {
        fwrite(STDERR, "spot-sso error: set SPOT_SSO_API_KEY to the API client's key\n");
        return 2;
    }
    $baseUrl = rtrim(env('SPOT_SSO_URL', 'http://127.0.0.1:8000'), '/');
    $userId = env('SPOT_SSO_USER_ID', 'u-ada');
    $widgetScript = env('SPOT_WIDGET_SCRIPT', "{$baseUrl}/demo/spot/widget.js");
    $spot = env('SPOT_SSO_SPOT') !== '' ? ['spot' => env('SPOT_SSO_SPOT')] : [];
    $grace = [
        'sub' => 'u-2001',
        'firstName' => 'Grace',
        'lastName' => 'Hopper',
        'email' => 'grace@example.com',
        'lang' => 'en',
        'timezone' => 'America/New_York',
    ];
    try {
        $byId = issue_token($baseUrl, $apiKey, [...$spot, 'userId' => $userId]);
        echo "token by userId {$userId}: {$byId['token']} (expires {$byId['expiresAt']})\n";
        $byUser = issue_token($baseUrl, $apiKey, [...$spot, 'user' => $grace]);
        echo "token by user {$grace['sub']}: {$byUser['token']} (expires {$byUser['expiresAt']})\n";
    } catch (SpotSsoError $error) {
        fwrite(STDERR, "spot-sso error: {$error->getMessage()}\n");
        return 1;
    }
    echo 'link: ' . app_link($baseUrl, $byId['spot'], $byId['spotId']) . "\n";
    echo 'embed: ' . embed_snippet($widgetScript, $byId['token']) . "\n";
    return 0;
}

exit(main());

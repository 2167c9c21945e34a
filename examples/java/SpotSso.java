// Get MeltingSpot tokens from spot-sso, build the "from the app" link and the embed snippet.
//
// Run (Java 17, from the repository root): SPOT_SSO_API_KEY=<key> java examples/java/SpotSso.java
// Standard library only (java.net.http); see ../README.md for the settings and what it prints.

import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

public final class SpotSso {
    static final String PROBLEM_PREFIX = "urn:spot-sso:problem:";
    static final Duration TIMEOUT = Duration.ofSeconds(5);

    /** spot-sso refused the request (an RFC 9457 problem document), or did not answer. */
    static final class SpotSsoError extends Exception {
        final Integer status; // the HTTP status, null when there was no answer
        final Integer retryAfter; // seconds to wait (the Retry-After header, on 429), or null

        SpotSsoError(String message, Integer status, Integer retryAfter) {
            super(message);
            this.status = status;
            this.retryAfter = retryAfter;
        }
    }

    /** The reply of {@code POST /tokens} (the fields this program uses). */
    record TokenReply(String token, String expiresAt, String spot, String spotId) {
    }

    /** Calls spot-sso with an API client's key. Keep the key on your backend. */
    static final class Client {
        private final String baseUrl; // spot-sso's public_url, without a trailing slash
        private final String apiKey;
        private final HttpClient http;

        Client(String baseUrl, String apiKey) {
            this.baseUrl = stripTrailingSlashes(baseUrl);
            this.apiKey = apiKey;
            this.http = HttpClient.newBuilder()
                    .version(HttpClient.Version.HTTP_1_1) // no h2c upgrade attempt on http://
                    .connectTimeout(TIMEOUT)
                    .build(); // follows no redirects (Redirect.NEVER is the default)
        }

        /** {@code POST /tokens} with {@code body}: a "userId" or a "user", and optionally a "spot". */
        TokenReply issueToken(Map<String, Object> body) throws SpotSsoError {
            HttpResponse<String> response;
            try {
                HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + "/tokens"))
                        .timeout(TIMEOUT)
                        .header("Authorization", "Bearer " + apiKey)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(toJson(body), StandardCharsets.UTF_8))
                        .build();
                response = http.send(request, HttpResponse.BodyHandlers.ofString());
            } catch (IOException | IllegalArgumentException exc) {
                throw new SpotSsoError("cannot reach " + baseUrl + ": " + reason(exc), null, null);
            } catch (InterruptedException exc) {
                Thread.currentThread().interrupt();
                throw new SpotSsoError("cannot reach " + baseUrl + ": interrupted", null, null);
            }
            if (response.statusCode() != 200) {
                throw problemError(response);
            }
            try {
                Map<String, Object> reply = Json.object(Json.parse(response.body()));
                return new TokenReply(Json.text(reply, "token"), Json.text(reply, "expiresAt"),
                        Json.text(reply, "spot"), Json.text(reply, "spotId"));
            } catch (Json.ParseError exc) {
                String message = "200 (cannot read the reply: " + exc.getMessage() + ")";
                throw new SpotSsoError(message, 200, null);
            }
        }
    }

    /** The error for a non-200 answer, named by its problem document. */
    static SpotSsoError problemError(HttpResponse<String> response) {
        int status = response.statusCode();
        Integer retryAfter = response.headers().firstValue("Retry-After")
                .filter(value -> value.matches("[0-9]+"))
                .flatMap(SpotSso::parseSeconds)
                .orElse(null);
        String notProblem = status + " (not a problem document)";
        String mediaType = response.headers().firstValue("Content-Type").orElse("")
                .split(";", 2)[0].strip();
        if (!mediaType.equals("application/problem+json")) {
            return new SpotSsoError(notProblem, status, retryAfter);
        }
        String type;
        String detail;
        String requestId;
        try {
            Map<String, Object> problem = Json.object(Json.parse(response.body()));
            type = Json.text(problem, "type");
            detail = Json.text(problem, "detail");
            requestId = Json.text(problem, "requestId");
        } catch (Json.ParseError exc) {
            return new SpotSsoError(notProblem, status, retryAfter);
        }
        String slug = type.startsWith(PROBLEM_PREFIX) ? type.substring(PROBLEM_PREFIX.length()) : type;
        String message = status + " " + slug + ": " + detail;
        if (retryAfter != null) {
            message += " Retry after " + retryAfter + " s.";
        }
        message += " (request " + requestId + ")";
        return new SpotSsoError(message, status, retryAfter);
    }

    private static Optional<Integer> parseSeconds(String digits) {
        try {
            return Optional.of(Integer.valueOf(digits));
        } catch (NumberFormatException exc) { // too large
            return Optional.empty();
        }
    }

    /**
     * Why a call got no answer, on one line. The JDK's HttpClient often gives no message
     * (a refused connection is a ConnectException caused by a ClosedChannelException), so
     * the chain of exceptions is named down to the first message:
     * "ConnectException: ClosedChannelException", "HttpConnectTimeoutException: HTTP connect timed out".
     */
    static String reason(Throwable exc) {
        StringBuilder text = new StringBuilder(exc.getClass().getSimpleName());
        Class<?> named = exc.getClass();
        for (Throwable cause = exc; cause != null; cause = cause.getCause()) {
            String message = cause.getMessage();
            if (message != null && !message.isBlank()) {
                text.append(": ").append(message);
                break;
            }
            if (cause.getClass() != named) {
                named = cause.getClass();
                text.append(": ").append(named.getSimpleName());
            }
        }
        return text.toString().replaceAll("\\s+", " ");
    }

    /** The "from the app" link: spot-sso logs the user in and opens the Spot's {@code page}. */
    static String appLink(String baseUrl, String spot, String spotId, String page) {
        return baseUrl + "/authorize?spot=" + queryEscape(spot)
                + "&referrerUrl=" + queryEscape("/spot/" + spotId + "/" + page);
    }

    /** A query value, escaped as Python's urlencode and Go's url.QueryEscape do. */
    static String queryEscape(String value) {
        // URLEncoder leaves '*' alone and escapes '~': turn both to the usual form.
        return URLEncoder.encode(value, StandardCharsets.UTF_8)
                .replace("*", "%2A")
                .replace("%7E", "~");
    }

    /** The widget's installation snippet with the token as its {@code authToken}. */
    static String embedSnippet(String widgetScript, String token) {
        return "<script src=\"" + escapeHtml(widgetScript) + "\" data-auth-token=\""
                + escapeHtml(token) + "\" async></script>";
    }

    /** A value to put in an HTML page or attribute: & < > " ' escaped. */
    static String escapeHtml(String value) {
        StringBuilder out = new StringBuilder(value.length());
        for (char c : value.toCharArray()) {
            switch (c) {
                case '&' -> out.append("&amp;");
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&#x27;");
                default -> out.append(c);
            }
        }
        return out.toString();
    }

    /** A JSON string literal: {@code "..."} with quotes, backslashes and control characters escaped. */
    static String jsonString(String value) {
        StringBuilder out = new StringBuilder(value.length() + 2).append('"');
        for (char c : value.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }

    /** The JSON text of a request body: maps (objects, in their order) of strings and maps. */
    static String toJson(Object value) {
        if (value instanceof String text) {
            return jsonString(text);
        }
        if (value instanceof Map<?, ?> fields) {
            StringBuilder out = new StringBuilder("{");
            for (Map.Entry<?, ?> field : fields.entrySet()) {
                if (out.length() > 1) {
                    out.append(',');
                }
                out.append(jsonString((String) field.getKey())).append(':').append(toJson(field.getValue()));
            }
            return out.append('}').toString();
        }
        throw new IllegalArgumentException("not a string or a map: " + value);
    }

    /**
     * A small, strict JSON reader (RFC 8259): objects become LinkedHashMap, arrays ArrayList,
     * strings String, numbers Long or Double, true/false Boolean, null null.
     * In a product, use the JSON library you already have (e.g. Jackson's ObjectMapper.readTree).
     */
    static final class Json {
        private static final int MAX_DEPTH = 512;
        private final String text;
        private int at;
        private int depth;

        static final class ParseError extends Exception {
            ParseError(String message) {
                super(message);
            }
        }

        private Json(String text) {
            this.text = text;
        }

        /** The value {@code text} holds, with nothing but whitespace around it. */
        static Object parse(String text) throws ParseError {
            Json reader = new Json(text);
            reader.skipWhitespace();
            Object value = reader.value();
            reader.skipWhitespace();
            if (reader.at != text.length()) {
                throw reader.error("unexpected data after the value");
            }
            return value;
        }

        /** {@code value} as an object, or a ParseError if it is anything else. */
        @SuppressWarnings("unchecked")
        static Map<String, Object> object(Object value) throws ParseError {
            if (value instanceof Map) {
                return (Map<String, Object>) value;
            }
            throw new ParseError("expected a JSON object");
        }

        /** The string member {@code name} of {@code object}: "" when absent or null. */
        static String text(Map<String, Object> object, String name) throws ParseError {
            Object value = object.get(name);
            if (value == null || value instanceof String) {
                return value == null ? "" : (String) value;
            }
            throw new ParseError("\"" + name + "\" is not a string");
        }

        private Object value() throws ParseError {
            if (at >= text.length()) {
                throw error("unexpected end of data");
            }
            char c = text.charAt(at);
            switch (c) {
                case '{':
                    return nested(true);
                case '[':
                    return nested(false);
                case '"':
                    return string();
                case 't':
                    return literal("true", Boolean.TRUE);
                case 'f':
                    return literal("false", Boolean.FALSE);
                case 'n':
                    return literal("null", null);
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        return number();
                    }
                    throw error("unexpected character '" + c + "'");
            }
        }

        private Object nested(boolean isObject) throws ParseError {
            if (++depth > MAX_DEPTH) {
                throw error("nested too deeply");
            }
            Object result = isObject ? objectBody() : arrayBody();
            depth--;
            return result;
        }

        private Map<String, Object> objectBody() throws ParseError {
            Map<String, Object> members = new LinkedHashMap<>();
            at++; // '{'
            skipWhitespace();
            if (peek('}')) {
                at++;
                return members;
            }
            while (true) {
                skipWhitespace();
                if (!peek('"')) {
                    throw error("expected a member name");
                }
                String name = string();
                skipWhitespace();
                expect(':');
                skipWhitespace();
                members.put(name, value()); // a repeated name: the last one wins
                skipWhitespace();
                if (peek(',')) {
                    at++;
                } else {
                    expect('}');
                    return members;
                }
            }
        }

        private List<Object> arrayBody() throws ParseError {
            List<Object> items = new ArrayList<>();
            at++; // '['
            skipWhitespace();
            if (peek(']')) {
                at++;
                return items;
            }
            while (true) {
                skipWhitespace();
                items.add(value());
                skipWhitespace();
                if (peek(',')) {
                    at++;
                } else {
                    expect(']');
                    return items;
                }
            }
        }

        private String string() throws ParseError {
            at++; // opening quote
            StringBuilder out = new StringBuilder();
            while (true) {
                if (at >= text.length()) {
                    throw error("unterminated string");
                }
                char c = text.charAt(at++);
                if (c == '"') {
                    return out.toString();
                }
                if (c < 0x20) {
                    throw error("control character in a string");
                }
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                if (at >= text.length()) {
                    throw error("unterminated string");
                }
                char escaped = text.charAt(at++);
                switch (escaped) {
                    case '"' -> out.append('"');
                    case '\\' -> out.append('\\');
                    case '/' -> out.append('/');
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case 'n' -> out.append('\n');
                    case 'r' -> out.append('\r');
                    case 't' -> out.append('\t');
                    // Java strings are UTF-16: a surrogate pair (\\uD83D\\uDE00) is two chars
                    // appended one after the other, which makes the one code point.
                    case 'u' -> out.append(hexChar());
                    default -> throw error("invalid escape '\\" + escaped + "'");
                }
            }
        }

        private char hexChar() throws ParseError {
            if (at + 4 > text.length()) {
                throw error("truncated \\u escape");
            }
            int code = 0;
            for (int i = 0; i < 4; i++) {
                int digit = Character.digit(text.charAt(at++), 16);
                if (digit < 0) {
                    throw error("invalid \\u escape");
                }
                code = code * 16 + digit;
            }
            return (char) code;
        }

        private Object number() throws ParseError {
            int start = at;
            if (peek('-')) {
                at++;
            }
            if (peek('0')) {
                at++;
            } else if (digits() == 0) {
                throw error("invalid number");
            }
            boolean integral = true;
            if (peek('.')) {
                at++;
                integral = false;
                if (digits() == 0) {
                    throw error("invalid number: digits expected after '.'");
                }
            }
            if (peek('e') || peek('E')) {
                at++;
                integral = false;
                if (peek('+') || peek('-')) {
                    at++;
                }
                if (digits() == 0) {
                    throw error("invalid number: digits expected in the exponent");
                }
            }
            String literal = text.substring(start, at);
            if (integral) {
                try {
                    return Long.valueOf(literal);
                } catch (NumberFormatException exc) { // beyond a long: read as a double
                    return Double.valueOf(literal);
                }
            }
            return Double.valueOf(literal);
        }

        private int digits() {
            int start = at;
            while (at < text.length() && text.charAt(at) >= '0' && text.charAt(at) <= '9') {
                at++;
            }
            return at - start;
        }

        private Object literal(String word, Object value) throws ParseError {
            if (!text.startsWith(word, at)) {
                throw error("invalid literal");
            }
            at += word.length();
            return value;
        }

        private void skipWhitespace() {
            while (at < text.length()) {
                char c = text.charAt(at);
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                    return;
                }
                at++;
            }
        }

        private boolean peek(char c) {
            return at < text.length() && text.charAt(at) == c;
        }

        private void expect(char c) throws ParseError {
            if (!peek(c)) {
                throw error("expected '" + c + "'");
            }
            at++;
        }

        private ParseError error(String message) {
            return new ParseError(message + " at offset " + at);
        }
    }

    static String stripTrailingSlashes(String url) {
        int end = url.length();
        while (end > 0 && url.charAt(end - 1) == '/') {
            end--;
        }
        return url.substring(0, end);
    }

    /** The variable's value, or {@code fallback} when it is not set at all. */
    static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value != null ? value : fallback;
    }

    static int run(PrintStream out, PrintStream err) {
        String apiKey = System.getenv("SPOT_SSO_API_KEY");
        if (apiKey == null || apiKey.isEmpty()) {
            err.print("spot-sso error: set SPOT_SSO_API_KEY to the API client's key\n");
            return 2;
        }
        String baseUrl = stripTrailingSlashes(env("SPOT_SSO_URL", "http://127.0.0.1:8000"));
        String userId = env("SPOT_SSO_USER_ID", "u-ada");
        String widgetScript = env("SPOT_WIDGET_SCRIPT", baseUrl + "/demo/spot/widget.js");
        String spot = env("SPOT_SSO_SPOT", ""); // needed only when the client may use several Spots
        Map<String, Object> grace = new LinkedHashMap<>();
        grace.put("sub", "u-2001");
        grace.put("firstName", "Grace");
        grace.put("lastName", "Hopper");
        grace.put("email", "grace@example.com");
        grace.put("lang", "en");
        grace.put("timezone", "America/New_York");

        Client client = new Client(baseUrl, apiKey);
        TokenReply byId;
        try {
            byId = client.issueToken(request(spot, "userId", userId));
            out.print("token by userId " + userId + ": " + byId.token()
                    + " (expires " + byId.expiresAt() + ")\n");
            TokenReply byUser = client.issueToken(request(spot, "user", grace));
            out.print("token by user " + grace.get("sub") + ": " + byUser.token()
                    + " (expires " + byUser.expiresAt() + ")\n");
        } catch (SpotSsoError exc) {
            // In a product: exc.status and exc.retryAfter (see ../README.md for what to do).
            err.print("spot-sso error: " + exc.getMessage() + "\n");
            return 1;
        }
        out.print("link: " + appLink(baseUrl, byId.spot(), byId.spotId(), "events") + "\n");
        out.print("embed: " + embedSnippet(widgetScript, byId.token()) + "\n");
        return 0;
    }

    /** A POST /tokens body: {@code {"spot": ..., key: value}}, the Spot only when given. */
    static Map<String, Object> request(String spot, String key, Object value) {
        Map<String, Object> body = new LinkedHashMap<>();
        if (!spot.isEmpty()) {
            body.put("spot", spot);
        }
        body.put(key, value);
        return body;
    }

    public static void main(String[] args) {
        // UTF-8 output whatever the locale (Java 17 would otherwise follow it).
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        PrintStream err = new PrintStream(System.err, true, StandardCharsets.UTF_8);
        int status = run(out, err);
        out.flush();
        err.flush();
        System.exit(status);
    }
}

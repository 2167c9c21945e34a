// Get MeltingSpot tokens from spot-sso, build the "from the app" link and the embed snippet.
//
// Run: SPOT_SSO_API_KEY=<key> node examples/node/spot_sso.mjs  (Node 18.13+, no npm package)

const PROBLEM_PREFIX = "urn:spot-sso:problem:";
const TIMEOUT_MS = 5000; // every call has a timeout

/** spot-sso refused the request: an RFC 9457 problem document, or no answer at all. */
class SpotSsoError extends Error {
  constructor(message, status = null, retryAfter = null) {
    super(message);
    this.name = "SpotSsoError";
    this.status = status; // null when spot-sso could not be reached
    this.retryAfter = retryAfter; // seconds to wait, on 429
  }
}

/**
 * spot-sso's API for one API client: the base URL and the key are given once, and the key is
 * sent as `Authorization: Bearer <key>` (keep it on your backend: a browser must never see it).
 */
function spotSsoClient(baseUrl, apiKey) {
  /**
   * `POST /tokens`: the reply (`token`, `expiresAt`, `spot`, `spotId`...).
   * Throws a SpotSsoError for any answer other than 200, or for no answer at all.
   */
  async function issueToken(body) {
    let response;
    let text;
    try {
      response = await fetch(`${baseUrl}/tokens`, {
        method: "POST",
        headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
        redirect: "manual", // a redirect is an answer to report, not one to follow
        signal: AbortSignal.timeout(TIMEOUT_MS), // covers reading the body too
      });
      text = await response.text();
    } catch (error) {
      throw new SpotSsoError(`cannot reach ${baseUrl}: ${reason(error)}`);
    }
    if (response.status === 200) {
      return JSON.parse(text);
    }
    throw problemError(response, text);
  }

  return { issueToken };
}

/** The error for a non-200 answer, named by its problem document. */
function problemError(response, text) {
  const status = response.status;
  const retry = response.headers.get("Retry-After") ?? "";
  const retryAfter = /^[0-9]+$/.test(retry) ? Number(retry) : null;
  const mediaType = (response.headers.get("Content-Type") ?? "").split(";")[0].trim();
  const notAProblem = new SpotSsoError(`${status} (not a problem document)`, status, retryAfter);
  if (mediaType !== "application/problem+json") {
    return notAProblem;
  }
  let problem;
  try {
    problem = JSON.parse(text);
  } catch {
    return notAProblem;
  }
  if (problem === null || typeof problem !== "object" || Array.isArray(problem)) {
    return notAProblem;
  }
  const type = String(problem.type ?? "");
  const slug = type.startsWith(PROBLEM_PREFIX) ? type.slice(PROBLEM_PREFIX.length) : type;
  let message = `${status} ${slug}: ${problem.detail ?? ""}`;
  if (retryAfter !== null) {
    message += ` Retry after ${retryAfter} s.`;
  }
  return new SpotSsoError(`${message} (request ${problem.requestId ?? ""})`, status, retryAfter);
}

/** Why fetch got no answer, on one line: "connect ECONNREFUSED 127.0.0.1:8000", a timeout... */
function reason(error) {
  const cause = error.cause ?? error; // fetch throws TypeError("fetch failed") with the cause
  const causes = cause.errors ?? [cause]; // an AggregateError when every address refused
  const text = causes.map((each) => each.message || each.code).join("; ") || String(error);
  return text.replace(/\s+/g, " ").trim();
}

/** The "from the app" link: spot-sso logs the user in and opens the Spot's `page`. */
function appLink(baseUrl, spot, spotId, page = "events") {
  const query = new URLSearchParams({ spot, referrerUrl: `/spot/${spotId}/${page}` });
  return `${baseUrl}/authorize?${query}`;
}

/** The widget's installation snippet with the token as its `authToken`. */
function embedSnippet(widgetScript, token) {
  return `<script src="${escapeHtml(widgetScript)}" data-auth-token="${escapeHtml(token)}" async></script>`;
}

const HTML_ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;" };

/** A value made safe to put in an HTML page, text or quoted attribute. */
function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]);
}

async function main() {
  const env = process.env;
  const apiKey = env.SPOT_SSO_API_KEY;
  if (!apiKey) {
    console.error("spot-sso error: set SPOT_SSO_API_KEY to the API client's key");
    return 2;
  }
  const baseUrl = (env.SPOT_SSO_URL ?? "http://127.0.0.1:8000").replace(/\/+$/, "");
  const userId = env.SPOT_SSO_USER_ID ?? "u-ada";
  const widgetScript = env.SPOT_WIDGET_SCRIPT ?? `${baseUrl}/demo/spot/widget.js`;
  const spot = env.SPOT_SSO_SPOT ? { spot: env.SPOT_SSO_SPOT } : {};
  const grace = {
    sub: "u-2001",
    firstName: "Grace",
    lastName: "Hopper",
    email: "grace@example.com",
    lang: "en",
    timezone: "America/New_York",
  };
  const client = spotSsoClient(baseUrl, apiKey);
  let byId;
  try {
    byId = await client.issueToken({ ...spot, userId });
    console.log(`token by userId ${userId}: ${byId.token} (expires ${byId.expiresAt})`);
    const byUser = await client.issueToken({ ...spot, user: grace });
    console.log(`token by user ${grace.sub}: ${byUser.token} (expires ${byUser.expiresAt})`);
  } catch (error) {
    if (!(error instanceof SpotSsoError)) {
      throw error;
    }
    console.error(`spot-sso error: ${error.message}`);
    return 1;
  }
  console.log(`link: ${appLink(baseUrl, byId.spot, byId.spotId)}`);
  console.log(`embed: ${embedSnippet(widgetScript, byId.token)}`);
  return 0;
}

// Not process.exit(): it could cut short what is still being written to a pipe.
process.exitCode = await main();

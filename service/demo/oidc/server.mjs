// A real OpenID provider for spot-sso's tests: oidc-provider with its development
// login and consent pages, one confidential client, and the accounts given as JSON.
//
//   OIDC_PORT=... OIDC_CLIENT='{"client_id":...}' OIDC_ACCOUNTS='{"ada":{...}}' node server.mjs
//
// Listens on 127.0.0.1 only; prints "ready <issuer>" once it accepts connections.
import Provider from "oidc-provider";

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS ?? "{}");
const client = JSON.parse(process.env.OIDC_CLIENT);
// The signing keys (a JWK set with private parts), so that tests can also forge tokens
// signed with the provider's own key; without it, oidc-provider's development keys.
const jwks = process.env.OIDC_JWKS ? JSON.parse(process.env.OIDC_JWKS) : undefined;

const provider = new Provider(issuer, {
  clients: [client],
  ...(jwks ? { jwks } : {}),
  pkce: { required: () => true },
  scopes: ["openid", "email", "profile", "groups"],
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "given_name", "family_name", "picture", "locale", "zoneinfo", "title"],
    groups: ["groups"],
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["spot-sso-test-provider-cookie-key"] },
  // The development login page takes any name: it becomes the accountId.
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
});
provider.listen(port, "127.0.0.1", () => console.log(`ready ${issuer}`));

// Ends with the process that started it, however that one ended (a signal, a crash).
const parent = Number(process.env.OIDC_PARENT_PID || process.ppid);
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500).unref();

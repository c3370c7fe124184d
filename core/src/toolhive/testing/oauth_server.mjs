// A real OpenID Connect provider (npm `oidc-provider`, panva) for ToolHive's OAuth tests.
// Started by oauth_server.py: `node oauth_server.mjs` with, in the environment,
//   OIDC_PORT                port on 127.0.0.1 (the issuer is http://127.0.0.1:<port>)
//   OIDC_CLIENT_ID           the public PKCE client (native: any loopback port, /callback)
//   OIDC_RS_CLIENT_ID/SECRET a confidential client a resource server uses for introspection
//   OIDC_ACCESS_TOKEN_TTL    access-token lifetime in seconds
// Dev interactions are on: any login name with any password is accepted, then a consent page.
// Access tokens are opaque; check them with POST /token/introspection.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accessTtl = Number(process.env.OIDC_ACCESS_TOKEN_TTL || '3600');

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
    {
      client_id: process.env.OIDC_RS_CLIENT_ID,
      client_secret: process.env.OIDC_RS_CLIENT_SECRET,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  scopes: ['openid', 'offline_access', 'profile'],
  features: {
    devInteractions: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  pkce: { required: () => true },
  ttl: {
    AccessToken: accessTtl,
    RefreshToken: 24 * 3600,
    Grant: 24 * 3600,
    Session: 24 * 3600,
    Interaction: 600,
    IdToken: 3600,
    AuthorizationCode: 60,
  },
  cookies: { keys: ['toolhive-test-cookie-key'] },
});
// The dev mode warns on stderr about its defaults; that is expected here.
provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

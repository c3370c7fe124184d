// A real OpenID Connect provider (npm `oidc-provider`, panva) for ToolHive's OAuth tests.
// Started by oauth_server.py: `node oauth_server.mjs` with, in the environment,
//   OIDC_PORT                port on 127.0.0.1 (the issuer is http://127.0.0.1:<port>)
//   OIDC_CLIENT_ID           the public PKCE client (native: any loopback port, /callback)
//   OIDC_RS_CLIENT_ID/SECRET a confidential client a resource server uses for introspection
//   OIDC_ACCESS_TOKEN_TTL    access-token lifetime in seconds
//   OIDC_RESOURCES           space-separated RFC 8707 resource indicators this provider issues
//                            JWT access tokens for (aud = the resource); any other is refused
//   OIDC_EXCHANGE_CLIENT_ID/SECRET  a confidential client allowed RFC 8693 token exchange
// Dev interactions are on: any login name with any password is accepted, then a consent page.
// Without a resource, access tokens are opaque (check them with POST /token/introspection);
// with one they are RS256 JWTs checked against /jwks. RFC 7591 dynamic registration is open
// (POST /reg). Refresh tokens are issued to every client allowed the refresh_token grant.
import Provider, { errors } from 'oidc-provider';
import * as jose from 'jose';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accessTtl = Number(process.env.OIDC_ACCESS_TOKEN_TTL || '3600');
const resources = new Set((process.env.OIDC_RESOURCES || '').split(' ').filter(Boolean));
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

function resourceServer(audience) {
  return {
    scope: 'openid profile offline_access mcp:tools',
    audience,
    accessTokenTTL: accessTtl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback', 'http://localhost/callback'],
    },
    {
      client_id: process.env.OIDC_EXCHANGE_CLIENT_ID,
      client_secret: process.env.OIDC_EXCHANGE_CLIENT_SECRET,
      grant_types: [EXCHANGE],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: process.env.OIDC_RS_CLIENT_ID,
      client_secret: process.env.OIDC_RS_CLIENT_SECRET,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  scopes: ['openid', 'offline_access', 'profile', 'mcp:tools'],
  features: {
    devInteractions: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    registration: { enabled: true, initialAccessToken: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (!resources.has(indicator)) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        return resourceServer(indicator);
      },
    },
  },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
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
// RFC 8693: the subject token (an opaque access token of this provider, or one of its JWTs) is
// exchanged for a JWT for `audience` carrying the subject's `sub` (client_id: the exchanging client).
provider.registerGrantType(EXCHANGE, async (ctx) => {
  const { params, client } = ctx.oidc;
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest('subject_token_type must be an access token');
  }
  let subject;
  const opaque = await provider.AccessToken.find(params.subject_token);
  if (opaque && !opaque.isExpired) {
    subject = { sub: opaque.accountId, scope: opaque.scope };
  } else {
    try {
      const jwks = jose.createLocalJWKSet(await (await fetch(`${issuer}/jwks`)).json());
      const { payload } = await jose.jwtVerify(params.subject_token, jwks, { issuer });
      subject = { sub: payload.sub, scope: payload.scope };
    } catch {
      throw new errors.InvalidGrant('subject_token is not an active token of this issuer');
    }
  }
  const audience = params.audience || params.resource;
  if (!audience) throw new errors.InvalidRequest('audience is required');
  const token = new provider.AccessToken({
    accountId: subject.sub,
    client,
    gty: 'token_exchange',
    scope: params.scope || 'mcp:tools',
  });
  token.resourceServer = resourceServer(audience);
  const value = await token.save();
  ctx.body = {
    access_token: value,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: 'Bearer',
    expires_in: token.expiration,
    scope: token.scope,
  };
}, ['subject_token', 'subject_token_type', 'audience', 'scope', 'requested_token_type', 'resource']);

// The dev mode warns on stderr about its defaults; that is expected here.
provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

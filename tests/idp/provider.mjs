// A real OpenID Connect provider (the npm package oidc-provider) for tests/identity/: started
// by tests/identity/conftest.py on loopback with a JSON configuration file, never by hand.
// Accounts, the client and the signing keys come from that file, so the tests know the keys
// (to sign expired or misdirected tokens with the provider's own key). Its login page is
// oidc-provider's development page (any password); consent is given by the grant loader below,
// as a ministry's provider does for its own first-party applications.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts;

const provider = new Provider(config.issuer, {
  clients: [config.client],
  jwks: { keys: config.keys },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups', 'mla_active'],
  },
  // Everything the scopes grant goes into the ID token (there is no userinfo call).
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => config.audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== config.audience) throw new Error('unknown resource');
        return {
          scope: 'api', audience: config.audience, accessTokenFormat: 'jwt',
          accessTokenTTL: 300, jwt: { sign: { alg: config.keys[0].alg } },
        };
      },
    },
  },
  // Access tokens carry the claims the engine maps to an authority and a role.
  extraTokenClaims: async (ctx, token) => {
    const account = accounts[token.accountId];
    if (!account) return undefined;
    return {
      groups: account.groups || [], preferred_username: account.preferred_username,
      name: account.name, email: account.email, mla_active: account.mla_active,
    };
  },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, ...(accounts[id] || { preferred_username: id }) }),
  }),
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email groups');
    grant.addOIDCClaims(['name', 'preferred_username', 'email', 'groups', 'mla_active']);
    grant.addResourceScope(config.audience, 'api');
    await grant.save();
    return grant;
  },
  ttl: { IdToken: 300, AccessToken: 300, Session: 3600, Interaction: 600, Grant: 3600 },
  cookies: { keys: ['test-only cookie key of the loopback provider'] },
});
provider.proxy = false;

const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${config.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

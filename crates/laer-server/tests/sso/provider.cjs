// A real OpenID provider for laer's single sign-on tests: the certified `oidc-provider`
// package (npm, 9.x) with its development login and consent pages (any password is
// accepted for the people below).
//
// node provider.cjs PORT REDIRECT_URI MODE   (NODE_PATH: a node_modules folder with oidc-provider;
// scripts/test installs the version it pins)
//
// Clients: `laer` (secret `laer-secret`) and `other` (secret `other-secret`), both
// allowed to return to REDIRECT_URI. MODE bends the provider for one test:
//   normal          a correct provider;
//   wrong-audience  laer's authorization and token requests are answered as if `other`
//                   had made them, so laer receives a valid ID token issued to `other`;
//   expired         ID tokens are issued two hours in the past (already expired).
// Prints "ready" when it listens.
const { default: Provider } = require('oidc-provider');

const [port, redirectUri, mode = 'normal'] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const people = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Example', laer_role: 'csm' },
  ivan: { email: 'ivan@example.com', email_verified: true, name: 'Ivan Invited' },
  dora: { email: 'dora@example.com', email_verified: true, name: 'Dora Deactivated', laer_role: 'csm' },
  nobody: { email: 'nobody@example.com', email_verified: true, name: 'Nora Nobody' },
  mallory: { email: 'ivan@example.com', email_verified: false, name: 'Mallory' },
};

const provider = new Provider(issuer, {
  clients: [
    { client_id: 'laer', client_secret: 'laer-secret', redirect_uris: [redirectUri] },
    { client_id: 'other', client_secret: 'other-secret', redirect_uris: [redirectUri] },
  ],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    laer: ['laer_role'],
  },
  // The claims of the scopes asked for go into the ID token, as Okta, Entra ID and
  // Keycloak put them there when configured to.
  conformIdTokenClaims: false,
  cookies: { keys: ['laer test provider cookie key'] },
  // PKCE (S256) for every client, as laer's sign-ins must use it; by default
  // oidc-provider asks it only of public clients.
  pkce: { required: () => true },
  ttl: { IdToken: 600 },
  async findAccount(ctx, id) {
    const person = people[id];
    if (!person) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...person }; } };
  },
});

const basic = (id, secret) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');
const realNow = Date.now;
provider.use(async (ctx, next) => {
  if (mode === 'wrong-audience') {
    if (ctx.path === '/auth' && ctx.query.client_id === 'laer') {
      ctx.querystring = ctx.querystring.replace('client_id=laer', 'client_id=other');
    }
    if (ctx.path === '/token') {
      ctx.headers.authorization = basic('other', 'other-secret');
    }
  }
  if (mode === 'expired' && ctx.path === '/token') {
    Date.now = () => realNow() - 2 * 3600 * 1000;
    try {
      await next();
    } finally {
      Date.now = realNow;
    }
    return;
  }
  await next();
});

provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));

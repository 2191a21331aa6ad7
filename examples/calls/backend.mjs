// An example backend for calls over the socket (docs/protocol.md section 9; README, "Calls over
// the socket"): what CALL_ROUTES points at. Every call arrives as a POST with the caller's
// identity in a token the service signed for this one call; the backend checks it (signature,
// issuer, audience = the method, the hash of the exact body, not seen before) and trusts it, never
// the params, for who is asking. Plain Node (node:http) and jose.
//
//   CALL_SIGNING_SECRET=<the service's> node examples/calls/backend.mjs    # 127.0.0.1:8787 (HOST, PORT)
//
// Methods: `whoami` answers who the service says is calling; `notes.add` {text} adds a note to the
// caller's own list (in memory) and answers the list, or refuses an empty text with 400 (the
// client gets `call_refused`, status 400, and this JSON as `data`).
import { jwtVerify } from 'jose';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

const secret = process.env.CALL_SIGNING_SECRET ?? '';
if (Buffer.byteLength(secret) < 32) throw new Error('CALL_SIGNING_SECRET: the service\'s, at least 32 bytes');
const key = Buffer.from(secret);
const issuer = process.env.CALL_TOKEN_ISSUER ?? 'switchboard';
const MAX_BODY = 64 * 1024;
/** Token ids seen, until their token expires: a captured request cannot be replayed. */
const seen = new Map();
const notes = new Map();

const methods = {
  whoami: (_params, who) => ({ user: who.user, subject: who.sub, profile: who.profile, roles: who.roles, workspaces: who.workspaces, session: who.sid }),
  'notes.add': (params, who) => {
    const text = typeof params?.text === 'string' ? params.text.trim().slice(0, 500) : '';
    if (!text) return { status: 400, body: { reason: 'text must not be empty' } };
    const list = notes.get(who.user) ?? [];
    notes.set(who.user, [...list, text].slice(-20));
    return notes.get(who.user);
  },
};

async function handle(req, res) {
  const answer = (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const method = /^\/rpc\/([\w.:-]+)$/.exec(req.url ?? '')?.[1];
  if (req.method !== 'POST' || !Object.hasOwn(methods, method ?? '')) return answer(404, { reason: 'no such method' });
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    if ((size += chunk.length) > MAX_BODY) return answer(413, { reason: 'too large' });
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  let who;
  try {
    const jwt = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    ({ payload: who } = await jwtVerify(jwt, key, { issuer, audience: method, algorithms: ['HS256'] }));
    if (who.body_sha256 !== createHash('sha256').update(body).digest('hex')) throw new Error('the body is not the one signed');
    for (const [jti, exp] of seen) if (exp * 1000 < Date.now()) seen.delete(jti);
    if (seen.has(who.jti)) throw new Error('replayed');
    seen.set(who.jti, who.exp);
  } catch (err) {
    return answer(401, { reason: `identity token refused: ${err.message}` });
  }
  const out = methods[method](JSON.parse(body.toString()).params, who);
  return out?.status ? answer(out.status, out.body) : answer(200, out);
}

const server = createServer((req, res) => handle(req, res).catch(() => res.headersSent || res.writeHead(500).end()));
server.listen(Number(process.env.PORT ?? 8787), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address();
  const base = `http://${address}:${port}/rpc`;
  console.log(`call backend on ${base}: start the service with CALL_ROUTES='whoami=${base}/whoami notes.add=${base}/notes.add'`);
});

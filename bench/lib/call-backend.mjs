/**
 * The backend of bench/calls.mjs, in a process of its own: `POST /<method>` verifies the
 * HS256 identity token (signature, issuer, audience, body hash, as docs/protocol.md 9 tells a
 * backend to) and answers `{"ok":true,"params":…}`. The same work whoever calls it: the
 * service, or the bench directly with a token it signed with the same key.
 *
 *   ready {port}   sent once listening
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import process from 'node:process';
import { jwtVerify } from 'jose';
import { serve } from './common.mjs';

const key = Buffer.from(process.env.CALL_SIGNING_SECRET);
const server = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  try {
    const { method, params } = JSON.parse(body);
    const { payload } = await jwtVerify((req.headers.authorization ?? '').replace(/^Bearer /, ''), key, { issuer: 'switchboard', audience: method, algorithms: ['HS256'] });
    if (payload.body_sha256 !== createHash('sha256').update(body).digest('hex')) throw new Error('body hash');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, user: payload.user, params }));
  } catch (err) {
    res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ refused: String(err?.message) }));
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
serve({ exit: () => new Promise((resolve) => server.close(resolve)) });

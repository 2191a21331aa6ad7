import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { API_KEY, Client, framesBefore, startInstance, token, ws, type Instance } from '../support/harness.js';

/** PROTOCOL 3.1: a resolver (WORKSPACES_URL) supplies the workspaces instead of the claim. */
describe('workspaces from the HTTP resolver', () => {
  let resolver: Server;
  let app: Instance;
  const seen: string[] = [];

  beforeAll(async () => {
    resolver = createServer((req, res) => {
      const auth = req.headers.authorization ?? '';
      seen.push(auth);
      if (!auth.startsWith('Bearer ')) return void res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([ws('w-res', 'resolved', 'pydiods1/resolved')]));
    });
    await new Promise<void>((r) => resolver.listen(0, '127.0.0.1', r));
    const { port } = resolver.address() as { port: number };
    app = await startInstance({ WORKSPACES_URL: `http://127.0.0.1:${port}/workspaces` });
  });
  afterAll(async () => {
    await app?.close();
    await new Promise((r) => resolver.close(r));
  });

  it('uses the resolver answer, not the claim, and calls it with the bearer token', async () => {
    const jwt = token({ name: 'alice', workspaces: [ws('w-claim', 'claimed', 'pydiods1/claimed')] });
    const c = await Client.subscribed(`${app.wsUrl}/ws`, jwt);
    expect(c.frames[0]).toMatchObject({ '@type': 'subscribed', workspaces: ['w-res'] });
    expect(seen).toContain(`Bearer ${jwt}`);
    const publish = (path: string) =>
      fetch(`${app.url}/api/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify({ channel: 'topic.pydio.tree.nodes.changes', data: { Type: 'DELETE', Source: { Uuid: path, Path: path } } }),
      });
    await publish('pydiods1/claimed/a');
    await publish('pydiods1/resolved/b');
    expect(await c.next((f) => f.Type === 'DELETE')).toMatchObject({ Source: { Path: 'resolved/b' } });
    // Barrier: a later node event under the resolved workspace, through the same node pipeline.
    await publish('pydiods1/resolved/sentinel');
    const received = await framesBefore(c, 0, (f) => (f.Source as { Uuid?: string })?.Uuid === 'pydiods1/resolved/sentinel');
    expect(received.filter((f) => f.Type === 'DELETE')).toHaveLength(1);
    c.close();
  });
});

import { describe, it, expect } from '@jest/globals';
import { SchemaError } from '../../src/common/schema.js';
import type { Workspace } from '../../src/auth/identity.js';
import {
  metaPolicyAllows,
  nodeFrame,
  parseNodeEvent,
  policiesAllowRead,
  userMetaPolicies,
  visibleRoot,
  type NodeChangeEvent,
  type TreeNode,
} from '../../src/topics/node-event.js';

const projects: Workspace = { uuid: 'w1', slug: 'projects', roots: [{ uuid: 'r1', path: 'pydiods1/projects' }] };
const personal: Workspace = { uuid: 'w2', slug: 'personal', roots: [{ uuid: 'r2', path: 'personal/alice' }] };

describe('parseNodeEvent', () => {
  it.each<[string, unknown, NodeChangeEvent]>([
    ['missing Type means CREATE', { Target: { Uuid: 'u' } }, { Type: 'CREATE', Target: { Uuid: 'u' } }],
    ['null Type means CREATE', { Type: null, Target: { Uuid: 'u' } }, { Type: 'CREATE', Target: { Uuid: 'u' } }],
    ['unknown Type kept for the handler to drop', { Type: 'WHATEVER', Source: { Uuid: 'u' } }, { Type: 'WHATEVER', Source: { Uuid: 'u' } }],
    [
      'Path slashes stripped',
      { Type: 'DELETE', Source: { Path: '/a/b/' } },
      { Type: 'DELETE', Source: { Path: 'a/b' } },
    ],
    [
      'numbers for Size and MTime become strings',
      { Type: 'UPDATE_CONTENT', Target: { Uuid: 'u', Size: 12, MTime: 1700000000 } },
      { Type: 'UPDATE_CONTENT', Target: { Uuid: 'u', Size: '12', MTime: '1700000000' } },
    ],
    [
      'non-string MetaStore values are JSON encoded',
      { Target: { Uuid: 'u', MetaStore: { a: '"x"', b: 3, c: { d: true } } } },
      { Type: 'CREATE', Target: { Uuid: 'u', MetaStore: { a: '"x"', b: '3', c: '{"d":true}' } } },
    ],
    [
      'extra node keys kept, null fields dropped',
      { Target: { Uuid: 'u', Etag: null, Extra: [1] } },
      { Type: 'CREATE', Target: { Uuid: 'u', Extra: [1] } },
    ],
    [
      'Silent and Optimistic kept, unknown top-level keys dropped',
      { Type: 'UPDATE_META', Target: { Uuid: 'u' }, Silent: true, Optimistic: false, Metadata: { secret: 'x' } },
      { Type: 'UPDATE_META', Target: { Uuid: 'u' }, Silent: true, Optimistic: false },
    ],
  ])('%s', (_name, raw, expected) => {
    expect(parseNodeEvent(raw)).toEqual(expected);
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', 'CREATE', /event must be an object/],
    ['an array', [], /event must be an object/],
    ['numeric Type', { Type: 1, Target: {} }, /Type must be a string/],
    ['no Source nor Target', { Type: 'CREATE' }, /Source or a Target/],
    ['Target not an object', { Target: 'a/b' }, /Target must be an object/],
    ['Source an array', { Source: [] }, /Source must be an object/],
    ['Path not a string', { Target: { Path: ['a'] } }, /Target.Path must be a string/],
    ['Uuid an object', { Source: { Uuid: {} } }, /Source.Uuid must be a string/],
    ['MetaStore not an object', { Target: { MetaStore: 'x' } }, /MetaStore must be an object/],
    ['MetaStore an array', { Target: { MetaStore: ['"v"'] } }, /event.Target.MetaStore must be an object/],
    ['Silent not a boolean', { Target: {}, Silent: 'yes' }, /Silent must be a boolean/],
  ])('rejects %s', (_name, raw, reason) => {
    expect(() => parseNodeEvent(raw)).toThrow(SchemaError);
    expect(() => parseNodeEvent(raw)).toThrow(reason);
  });

  it('does not mutate its input', () => {
    const raw = { Target: { Path: '/a/', Size: 3, MetaStore: { n: 1 } } };
    const copy = structuredClone(raw);
    const parsed = parseNodeEvent(raw);
    expect(raw).toEqual(copy);
    expect(parsed.Target).not.toBe(raw.Target);
  });
});

describe('visibleRoot', () => {
  const ws = (...paths: string[]): Workspace => ({ uuid: 'w', slug: 's', roots: paths.map((path) => ({ path })) });

  it.each<[string, string | undefined, Workspace, string | undefined]>([
    ['path under the root', 'pydiods1/projects/a.txt', projects, 'pydiods1/projects'],
    ['path equal to the root', 'pydiods1/projects', projects, 'pydiods1/projects'],
    ['boundary prefix is not a parent', 'a/bc', ws('a/b'), undefined],
    ['boundary prefix, deeper', 'a/bc/d', ws('a/b'), undefined],
    ['parent of the root is not visible', 'a', ws('a/b'), undefined],
    ['undefined path', undefined, projects, undefined],
    ['empty path', '', projects, undefined],
    ['other workspace', 'pydiods1/projects/a.txt', personal, undefined],
    ['nested roots: outermost wins', 'a/b/c/d', ws('a/b/c', 'a/b'), 'a/b'],
    ['nested roots, path equal to inner root', 'a/b/c', ws('a/b/c', 'a/b'), 'a/b'],
    ['overlapping roots: only the matching one', 'a/bc/d', ws('a/b', 'a/bc'), 'a/bc'],
    ['root path with slashes is normalised', 'a/b/c', ws('/a/b/'), 'a/b'],
    ['path with slashes is normalised', '/a/b/', ws('a/b'), 'a/b'],
    ['empty root never matches', 'a/b', ws('', '/'), undefined],
    ['second root matches', 'x/y', ws('a/b', 'x'), 'x'],
  ])('%s', (_name, path, workspace, expected) => {
    expect(visibleRoot(path, workspace)).toBe(expected);
  });
});

describe('nodeFrame', () => {
  const wsRoot = 'pydiods1/projects';
  const node = (path: string, extra: Partial<TreeNode> = {}): TreeNode => ({ Uuid: 'u', Path: path, ...extra });
  const event = (e: Partial<NodeChangeEvent>): NodeChangeEvent => ({ Type: 'CREATE', ...e });

  it.each<[string, NodeChangeEvent, Workspace, string | undefined, string | undefined, Record<string, unknown> | null]>([
    [
      'path rewritten relative to the root',
      event({ Target: node('pydiods1/projects/docs/a.txt') }),
      projects,
      wsRoot,
      undefined,
      { Type: 'CREATE', Target: { Uuid: 'u', Path: 'projects/docs/a.txt', MetaStore: { EventWorkspaceId: '"w1"' } } },
    ],
    [
      'path equal to the root becomes the slug',
      event({ Type: 'UPDATE_META', Target: node('pydiods1/projects') }),
      projects,
      wsRoot,
      undefined,
      { Type: 'UPDATE_META', Target: { Uuid: 'u', Path: 'projects', MetaStore: { EventWorkspaceId: '"w1"' } } },
    ],
    [
      'pydio: metas removed, others kept, EventWorkspaceId set',
      event({
        Target: node('pydiods1/projects/a', {
          MetaStore: { name: '"a"', 'pydio:meta-policies': '[]', 'pydio:lock': '1', EventWorkspaceId: '"forged"' },
        }),
      }),
      projects,
      wsRoot,
      undefined,
      { Type: 'CREATE', Target: { Uuid: 'u', Path: 'projects/a', MetaStore: { name: '"a"', EventWorkspaceId: '"w1"' } } },
    ],
    [
      'neither side visible',
      event({ Type: 'UPDATE_PATH', Source: node('x/a'), Target: node('x/b') }),
      projects,
      undefined,
      undefined,
      null,
    ],
    [
      'UPDATE_PATH inside the workspace',
      event({ Type: 'UPDATE_PATH', Source: node('pydiods1/projects/a.txt'), Target: node('pydiods1/projects/b.txt', { Type: 'LEAF', Size: '12' }) }),
      projects,
      wsRoot,
      wsRoot,
      {
        Type: 'UPDATE_PATH',
        Source: { Uuid: 'u', Path: 'projects/a.txt', MetaStore: { EventWorkspaceId: '"w1"' } },
        Target: { Uuid: 'u', Path: 'projects/b.txt', Type: 'LEAF', Size: '12', MetaStore: { EventWorkspaceId: '"w1"' } },
      },
    ],
    [
      'move into the workspace: CREATE, hidden source absent',
      event({ Type: 'UPDATE_PATH', Source: node('personal/alice/a.txt'), Target: node('pydiods1/projects/a.txt') }),
      projects,
      wsRoot,
      undefined,
      { Type: 'CREATE', Target: { Uuid: 'u', Path: 'projects/a.txt', MetaStore: { EventWorkspaceId: '"w1"' } } },
    ],
    [
      'move out of the workspace: DELETE, hidden target absent',
      event({ Type: 'UPDATE_PATH', Source: node('pydiods1/projects/a.txt'), Target: node('personal/alice/a.txt') }),
      projects,
      undefined,
      wsRoot,
      { Type: 'DELETE', Source: { Uuid: 'u', Path: 'projects/a.txt', MetaStore: { EventWorkspaceId: '"w1"' } } },
    ],
    [
      'DELETE keeps its type and its source',
      event({ Type: 'DELETE', Source: node('pydiods1/projects/a.txt') }),
      projects,
      undefined,
      wsRoot,
      { Type: 'DELETE', Source: { Uuid: 'u', Path: 'projects/a.txt', MetaStore: { EventWorkspaceId: '"w1"' } } },
    ],
    [
      'non-move with hidden source keeps its type and drops the source',
      event({ Type: 'UPDATE_CONTENT', Source: node('elsewhere/a'), Target: node('pydiods1/projects/a') }),
      projects,
      wsRoot,
      undefined,
      { Type: 'UPDATE_CONTENT', Target: { Uuid: 'u', Path: 'projects/a', MetaStore: { EventWorkspaceId: '"w1"' } } },
    ],
    [
      'Silent and Optimistic kept',
      event({ Type: 'UPDATE_META', Target: node('pydiods1/projects/a'), Silent: true, Optimistic: false }),
      projects,
      wsRoot,
      undefined,
      { Type: 'UPDATE_META', Target: { Uuid: 'u', Path: 'projects/a', MetaStore: { EventWorkspaceId: '"w1"' } }, Silent: true, Optimistic: false },
    ],
    [
      'a root that does not hold the node hides it (boundary prefix)',
      event({ Target: node('pydiods1/projectsX/a') }),
      projects,
      wsRoot,
      undefined,
      null,
    ],
    [
      'node without a Path is hidden',
      event({ Target: { Uuid: 'u' } }),
      projects,
      wsRoot,
      undefined,
      null,
    ],
  ])('%s', (_name, e, ws, targetRoot, sourceRoot, expected) => {
    expect(nodeFrame(e, ws, targetRoot, sourceRoot)).toEqual(expected);
  });

  it('one node visible through two workspaces gives a frame per workspace', () => {
    const shared: Workspace = { uuid: 'w3', slug: 'team', roots: [{ path: 'pydiods1/projects/team' }] };
    const e = event({ Target: node('pydiods1/projects/team/x.doc') });
    const frames = [projects, shared].map((ws) => nodeFrame(e, ws, visibleRoot(e.Target?.Path, ws), undefined));
    expect(frames).toEqual([
      { Type: 'CREATE', Target: { Uuid: 'u', Path: 'projects/team/x.doc', MetaStore: { EventWorkspaceId: '"w1"' } } },
      { Type: 'CREATE', Target: { Uuid: 'u', Path: 'team/x.doc', MetaStore: { EventWorkspaceId: '"w3"' } } },
    ]);
    // The other workspace of the same session sees nothing.
    expect(nodeFrame(e, personal, visibleRoot(e.Target?.Path, personal), undefined)).toBeNull();
  });

  it('move between two workspaces: DELETE in one, CREATE in the other, no path leaks', () => {
    const e = event({
      Type: 'UPDATE_PATH',
      Source: node('pydiods1/projects/secret/a.txt'),
      Target: node('personal/alice/a.txt'),
    });
    const frameFor = (ws: Workspace) => nodeFrame(e, ws, visibleRoot(e.Target?.Path, ws), visibleRoot(e.Source?.Path, ws));
    const inProjects = frameFor(projects);
    const inPersonal = frameFor(personal);
    expect(inProjects).toEqual({ Type: 'DELETE', Source: { Uuid: 'u', Path: 'projects/secret/a.txt', MetaStore: { EventWorkspaceId: '"w1"' } } });
    expect(inPersonal).toEqual({ Type: 'CREATE', Target: { Uuid: 'u', Path: 'personal/a.txt', MetaStore: { EventWorkspaceId: '"w2"' } } });
    expect(JSON.stringify(inPersonal)).not.toContain('secret');
    expect(JSON.stringify(inProjects)).not.toContain('alice');
  });

  it('does not mutate the event', () => {
    const e = event({
      Type: 'UPDATE_PATH',
      Source: node('pydiods1/projects/a', { MetaStore: { 'pydio:x': '1' } }),
      Target: node('pydiods1/projects/b', { MetaStore: { n: '"b"' } }),
    });
    const copy = structuredClone(e);
    nodeFrame(e, projects, wsRoot, wsRoot);
    nodeFrame(e, personal, undefined, wsRoot);
    expect(e).toEqual(copy);
  });
});

describe('metaPolicyAllows', () => {
  const withPolicies = (policies: unknown): TreeNode => ({
    Uuid: 'u',
    MetaStore: { 'pydio:meta-policies': typeof policies === 'string' ? policies : JSON.stringify(policies) },
  });
  const subjects = ['*', 'user:alice', 'profile:standard', 'role:r1'];

  it.each<[string, TreeNode | undefined, boolean]>([
    ['allow on a subject', withPolicies([{ Subject: 'user:alice', Action: 'READ', Effect: 'allow' }]), true],
    ['allow on *', withPolicies([{ Subject: '*', Action: 'READ', Effect: 'allow' }]), true],
    ['allow, case-insensitive effect and action', withPolicies([{ Subject: 'role:r1', Action: 'read', Effect: 'ALLOW' }]), true],
    ['allow for someone else only', withPolicies([{ Subject: 'user:bob', Action: 'READ', Effect: 'allow' }]), false],
    ['allow for WRITE only', withPolicies([{ Subject: 'user:alice', Action: 'WRITE', Effect: 'allow' }]), false],
    [
      'deny wins over allow',
      withPolicies([
        { Subject: '*', Action: 'READ', Effect: 'allow' },
        { Subject: 'user:alice', Action: 'READ', Effect: 'deny' },
      ]),
      false,
    ],
    [
      'deny listed first still wins',
      withPolicies([
        { Subject: 'role:r1', Action: 'READ', Effect: 'Deny' },
        { Subject: 'user:alice', Action: 'READ', Effect: 'allow' },
      ]),
      false,
    ],
    [
      'deny for someone else does not matter',
      withPolicies([
        { Subject: 'user:bob', Action: 'READ', Effect: 'deny' },
        { Subject: 'user:alice', Action: 'READ', Effect: 'allow' },
      ]),
      true,
    ],
    [
      'deny on WRITE does not block READ',
      withPolicies([
        { Subject: 'user:alice', Action: 'WRITE', Effect: 'deny' },
        { Subject: 'user:alice', Action: 'READ', Effect: 'allow' },
      ]),
      true,
    ],
    ['policies encoded twice (JSON string of JSON)', withPolicies(JSON.stringify(JSON.stringify([{ Subject: '*', Action: 'READ', Effect: 'allow' }]))), true],
    ['missing policies', { Uuid: 'u', MetaStore: { name: '"a"' } }, false],
    ['no MetaStore', { Uuid: 'u' }, false],
    ['no node', undefined, false],
    ['unparseable policies', withPolicies('[{not json'), false],
    ['policies not a list', withPolicies({ Subject: '*', Action: 'READ', Effect: 'allow' }), false],
    ['empty list', withPolicies([]), false],
    ['malformed entries ignored', withPolicies([null, 'x', { Subject: 1, Action: 'READ', Effect: 'allow' }]), false],
  ])('%s', (_name, node, expected) => {
    expect(metaPolicyAllows(node, subjects)).toBe(expected);
  });

  it('no subjects means no access', () => {
    expect(metaPolicyAllows(withPolicies([{ Subject: '*', Action: 'READ', Effect: 'allow' }]), [])).toBe(false);
  });
});

describe('policiesAllowRead: enums as Go writes them (names from protojson, numbers from encoding/json, zero values left out)', () => {
  const subjects = ['*', 'user:alice', 'profile:standard'];
  it.each<[string, unknown[], boolean]>([
    ['numbers: READ=2, allow=1 (what idm/meta publishes)', [{ Resource: 'n', Action: 2, Subject: 'user:alice', Effect: 1 }], true],
    ['names: READ, allow (protojson)', [{ Action: 'READ', Subject: 'user:alice', Effect: 'allow' }], true],
    ['mixed: number action, name effect', [{ Action: 2, Subject: '*', Effect: 'allow' }], true],
    ['WRITE=3 does not give READ', [{ Action: 3, Subject: 'user:alice', Effect: 1 }], false],
    ['OWNER=1 does not give READ', [{ Action: 1, Subject: 'user:alice', Effect: 1 }], false],
    ['Action left out is ANY (0), which does not give READ', [{ Subject: 'user:alice', Effect: 1 }], false],
    ['Effect left out is deny (0)', [{ Action: 2, Subject: 'user:alice' }], false],
    ['Effect 0 is deny and wins over an allow', [{ Action: 2, Subject: '*', Effect: 1 }, { Action: 2, Subject: 'user:alice', Effect: 0 }], false],
    ['Effect left out (deny) for someone else does not matter', [{ Action: 2, Subject: '*', Effect: 1 }, { Action: 2, Subject: 'user:bob' }], true],
    ['unknown action number', [{ Action: 9, Subject: 'user:alice', Effect: 1 }], false],
    ['unknown effect number', [{ Action: 2, Subject: 'user:alice', Effect: 7 }], false],
    ['non-integer action', [{ Action: 2.5, Subject: 'user:alice', Effect: 1 }], false],
    ['action of the wrong type', [{ Action: true, Subject: 'user:alice', Effect: 1 }], false],
    ['null Effect is the zero value: deny', [{ Action: 2, Subject: 'user:alice', Effect: 1 }, { Action: 2, Subject: 'user:alice', Effect: null }], false],
  ])('%s -> %s', (_name, policies, expected) => {
    expect(policiesAllowRead(policies, subjects)).toBe(expected);
  });
});

describe('userMetaPolicies', () => {
  const pol = JSON.stringify([{ Action: 2, Subject: 'user:alice', Effect: 1 }]);
  const other = JSON.stringify([{ Action: 2, Subject: 'user:bob', Effect: 1 }]);
  const e = (Source?: TreeNode, Target?: TreeNode): NodeChangeEvent => ({ Type: 'UPDATE_USER_META', ...(Source && { Source }), ...(Target && { Target }) });
  it.each<[string, NodeChangeEvent, unknown]>([
    ['idm/meta shape: policies on a Source without Path', e({ Uuid: 'n', MetaStore: { 'pydio:meta-policies': pol } }, { Uuid: 'n', Path: 'a' }), [{ Action: 2, Subject: 'user:alice', Effect: 1 }]],
    ['Source wins over Target', e({ Uuid: 'n', MetaStore: { 'pydio:meta-policies': pol } }, { Uuid: 'n', MetaStore: { 'pydio:meta-policies': other } }), [{ Action: 2, Subject: 'user:alice', Effect: 1 }]],
    ['Target as a fallback', e({ Uuid: 'n', MetaStore: { bookmark: '' } }, { Uuid: 'n', MetaStore: { 'pydio:meta-policies': other } }), [{ Action: 2, Subject: 'user:bob', Effect: 1 }]],
    ['chat service shape: no Source, only comments', e(undefined, { Uuid: 'n', MetaStore: { comments: '"hi"' } }), 'public'],
    ['no Source but a private meta: denied', e(undefined, { Uuid: 'n', MetaStore: { comments: '"hi"', bookmark: 'true' } }), undefined],
    ['a Source without policies: denied', e({ Uuid: 'n', MetaStore: { bookmark: '' } }, { Uuid: 'n', MetaStore: { comments: '"hi"' } }), undefined],
    ['no metas at all: denied', e(undefined, { Uuid: 'n' }), undefined],
    ['unreadable policies: denied', e({ Uuid: 'n', MetaStore: { 'pydio:meta-policies': '[{' } }, { Uuid: 'n', Path: 'a' }), undefined],
  ])('%s', (_name, event, expected) => {
    expect(userMetaPolicies(event)).toEqual(expected);
  });
});

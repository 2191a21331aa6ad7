import { describe, it, expect } from '@jest/globals';
import { SchemaError } from '../../src/common/schema.js';
import { idmAudience, idmSideEffect, parseIdmEvent, type IdmSideEffect } from '../../src/topics/idm.topic.js';

describe('parseIdmEvent', () => {
  it('accepts an event with its objects', () => {
    const raw = { Type: 'UPDATE', User: { Uuid: 'sub-1', Login: 'alice', Attributes: { a: 'b' } } };
    expect(parseIdmEvent(raw)).toEqual(raw);
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', 42, /event must be an object/],
    ['Type not a string', { Type: 1 }, /event.Type must be a string/],
    ['User not an object', { User: 'alice' }, /event.User must be an object/],
    ['User.Login not a string', { User: { Login: 1 } }, /event.User.Login must be a string/],
    ['Role not an object', { Role: [] }, /event.Role must be an object/],
    ['Workspace.UUID not a string', { Workspace: { UUID: {} } }, /event.Workspace.UUID must be a string/],
    ['Acl.RoleID not a string', { Acl: { RoleID: 3 } }, /event.Acl.RoleID must be a string/],
    ['Acl.Action not an object', { Acl: { RoleID: 'r', Action: 'read' } }, /event.Acl.Action must be an object/],
    ['Acl.Action.Name not a string', { Acl: { RoleID: 'r', Action: { Name: 1 } } }, /Action.Name must be a string/],
  ])('rejects %s', (_name, raw, reason) => {
    expect(() => parseIdmEvent(raw)).toThrow(SchemaError);
    expect(() => parseIdmEvent(raw)).toThrow(reason);
  });
});

describe('idmAudience: first matching rule decides', () => {
  const user = { Uuid: 'sub-1', Login: 'alice' };
  it.each<[string, Record<string, unknown>, string[]]>([
    ['1. Acl with RoleID', { Acl: { RoleID: 'r1', Action: { Name: 'read' } } }, ['role:r1']],
    ['1. Acl with RoleID and no Action', { Acl: { RoleID: 'r1' } }, ['role:r1']],
    ['1. Acl wins over Role, User and Workspace', { Acl: { RoleID: 'r1', Action: { Name: 'write' } }, Role: { Uuid: 'r2' }, User: user, Workspace: { UUID: 'w1' } }, ['role:r1']],
    ['1 skipped: parameter: ACL falls through to Workspace', { Acl: { RoleID: 'r1', Action: { Name: 'parameter:core.conf:lang' } }, Workspace: { UUID: 'w1' } }, ['ws:w1']],
    ['1 skipped: action: ACL falls through to User', { Acl: { RoleID: 'r1', Action: { Name: 'action:x:y' } }, User: user }, ['user:alice']],
    ['1 skipped: parameter: ACL alone reaches nobody', { Acl: { RoleID: 'r1', Action: { Name: 'parameter:x' } } }, []],
    ['1 skipped: Acl without RoleID falls through to Role', { Acl: { WorkspaceID: 'w1', Action: { Name: 'read' } }, Role: { Uuid: 'r2' } }, ['role:r2']],
    ['2. Role', { Role: { Uuid: 'r2' } }, ['role:r2']],
    ['2. Role wins over User and Workspace', { Role: { Uuid: 'r2' }, User: user, Workspace: { UUID: 'w1' } }, ['role:r2']],
    ['2. Role without Uuid decides: nobody', { Role: { Label: 'x' }, User: user }, []],
    ['3. User with Login', { User: user }, ['user:alice']],
    ['3. User wins over Workspace', { User: user, Workspace: { UUID: 'w1' } }, ['user:alice']],
    ['4. User without Login: subject', { User: { Uuid: 'sub-1' } }, ['subject:sub-1']],
    ['4. User with empty Login: subject', { User: { Uuid: 'sub-1', Login: '' } }, ['subject:sub-1']],
    ['4. User without Login nor Uuid: nobody', { User: {} }, []],
    ['5. Workspace', { Workspace: { UUID: 'w1' } }, ['ws:w1']],
    ['5. Workspace without UUID: nobody', { Workspace: { Slug: 's' } }, []],
    ['no rule: nobody', { Type: 'UPDATE' }, []],
  ])('%s', (_name, raw, keys) => {
    expect(idmAudience(parseIdmEvent(raw)).keys).toEqual(keys);
  });

  it('frame is the event with @type idm first', () => {
    const e = parseIdmEvent({ '@type': 'forged', Type: 'UPDATE', Role: { Uuid: 'r2' } });
    const { frame } = idmAudience(e);
    expect(frame).toEqual({ '@type': 'idm', Type: 'UPDATE', Role: { Uuid: 'r2' } });
    expect(Object.keys(frame)[0]).toBe('@type');
    expect(e['@type']).toBe('forged');
  });
});

describe('idmSideEffect', () => {
  it.each<[string, Record<string, unknown>, IdmSideEffect | null]>([
    ['Workspace DELETE removes the workspace', { Type: 'DELETE', Workspace: { UUID: 'w1' } }, { removeWorkspace: 'w1' }],
    ['User DELETE closes the user', { Type: 'DELETE', User: { Uuid: 'sub-1', Login: 'alice' } }, { closeUser: { login: 'alice', subject: 'sub-1' } }],
    ['User DELETE without Login', { Type: 'DELETE', User: { Uuid: 'sub-1' } }, { closeUser: { subject: 'sub-1' } }],
    ['User DELETE without Uuid', { Type: 'DELETE', User: { Login: 'alice' } }, { closeUser: { login: 'alice' } }],
    ['User DELETE with no identifier', { Type: 'DELETE', User: {} }, null],
    ['Workspace UPDATE', { Type: 'UPDATE', Workspace: { UUID: 'w1' } }, null],
    ['User UPDATE', { Type: 'UPDATE', User: { Login: 'alice' } }, null],
    ['Role DELETE', { Type: 'DELETE', Role: { Uuid: 'r1' } }, null],
    ['no Type', { User: { Login: 'alice' } }, null],
  ])('%s', (_name, raw, expected) => {
    expect(idmSideEffect(parseIdmEvent(raw))).toEqual(expected);
  });
});

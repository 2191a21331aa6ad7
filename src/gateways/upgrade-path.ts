/**
 * The path of an upgrade request's target, for routing: total (never throws, whatever the
 * client sent). `undefined` when the target is not origin-form (`/path?query`), which is the
 * only form a WebSocket handshake uses (RFC 6455 4.1): the caller answers 400.
 *
 * No URL parsing: `new URL('//a:99999/ws', base)` reads `//...` as a host and throws.
 * Here `//ws` is just a path (that matches nothing: 404). Trailing slashes are ignored.
 */
export function upgradePath(target: unknown): string | undefined {
  if (typeof target !== 'string' || !target.startsWith('/')) return undefined;
  const end = target.search(/[?#]/);
  const path = end === -1 ? target : target.slice(0, end);
  return path.replace(/\/+$/, '') || '/';
}

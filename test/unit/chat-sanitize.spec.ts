import { describe, it, expect } from '@jest/globals';
import { sanitizeMessage } from '../../src/chat/sanitize.js';

describe('sanitizeMessage', () => {
  it.each([
    // plain text stays readable
    ['hello', 'hello'],
    ['  padded  ', 'padded'],
    ['a < b', 'a < b'],
    ['x > 1 && y', 'x > 1 && y'],
    ['I <3 you', 'I <3 you'],
    ['Tom & Jerry', 'Tom & Jerry'],
    ['"quoted" \'single\'', '"quoted" \'single\''],
    ['café 😀', 'café 😀'],
    ['line 1\nline 2', 'line 1\nline 2'],
    // markup goes, its text stays
    ['<b>bold</b> text', 'bold text'],
    ['<a href="javascript:alert(1)">link</a>', 'link'],
    ['<p>one</p><p>two</p>', 'onetwo'],
    ['<!-- comment -->visible', 'visible'],
    // dangerous elements go with their content
    ['<script>alert(1)</script>ok', 'ok'],
    ['<style>body{display:none}</style>ok', 'ok'],
    ['<img src=x onerror=alert(1)>', ''],
    ['<iframe src="https://evil"></iframe>ok', 'ok'],
    ['<svg onload=alert(1)>', ''],
    ['<<script>script>alert(1)<</script>/script>', ''],
    // entities: decoded as text, but never into markup
    ['a &lt; b', 'a < b'],
    ['&amp;', '&'],
    ['caf&eacute;', 'café'],
    ['&lt;script&gt;alert(1)&lt;/script&gt;', ''],
    ['&lt;b&gt;bold&lt;/b&gt;', 'bold'],
    ['&amp;lt;img src=x onerror=alert(1)&amp;gt;', ''],
    // only markup
    ['<br/>', ''],
    ['   ', ''],
  ])('%j -> %j', (input, expected) => {
    expect(sanitizeMessage(input)).toBe(expected);
  });

  it('never returns something that opens a tag', () => {
    const nasty = ['<scr<script>ipt>alert(1)</script>', '&lt;&lt;script&gt;&gt;', '<x onmouseover=1>t', '</title><script>1</script>'];
    for (const input of nasty) expect(sanitizeMessage(input)).not.toMatch(/<[a-z!/?]/i);
  });
});

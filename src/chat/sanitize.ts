/** Turns a posted chat message into plain text (PROTOCOL.md 4: the server strips HTML). */
import sanitizeHtml from 'sanitize-html';

const STRIP_ALL: sanitizeHtml.IOptions = {
  allowedTags: [],
  allowedAttributes: {},
  // Elements whose content is code or markup, not text: dropped with their content.
  nonTextTags: ['script', 'style', 'textarea', 'option', 'xmp', 'noscript', 'title', 'iframe', 'noembed', 'noframes'],
};

/** Only what sanitize-html itself escapes in text nodes (`&`, `<`, `>`). */
const UNESCAPE: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>' };

/** Bounds the fixed-point loop below; real input settles in two or three passes. */
const MAX_PASSES = 5;

/**
 * Entities: sanitize-html decodes entities while parsing and re-escapes `&`, `<` and `>` in its
 * output, so `a < b` comes out as `a &lt; b`. Chat clients render the message as text, where
 * `&lt;` would show literally, so we unescape those three. Unescaping alone could revive markup
 * that was sent entity-encoded (`&lt;script&gt;`), so we sanitize again until the text no longer
 * changes: the result then contains nothing an HTML parser reads as a tag, and `a < b`, `x > 1`,
 * `Tom & Jerry` stay readable.
 * Known limit of stripping HTML: `x<y` reads as the start of a tag and loses the rest.
 */
export function sanitizeMessage(text: string): string {
  let current = text;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const plain = sanitizeHtml(current, STRIP_ALL).replace(/&(amp|lt|gt);/g, (m) => UNESCAPE[m]);
    if (plain === current) return plain.trim();
    current = plain;
  }
  // Did not settle: the escaped form is safe both as HTML and as text.
  return sanitizeHtml(current, STRIP_ALL).trim();
}

/** The WebSocket close reason: at most 123 bytes of UTF-8 (RFC 6455 5.5.1); `ws` throws beyond. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** `reason` cut to fit the close frame, never in the middle of a UTF-8 sequence. */
export function fitCloseReason(reason: string, maxBytes = MAX_CLOSE_REASON_BYTES): string {
  const bytes = Buffer.from(reason, 'utf8');
  if (bytes.length <= maxBytes) return reason;
  let end = maxBytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

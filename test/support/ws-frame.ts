import { textFrame } from '../../src/sessions/outbox.js';

/** A frame as the fan-out hands it to an outbox. */
export const frame = (text: string | Buffer): Buffer => textFrame(Buffer.from(text));

/** The text in a frame built by `textFrame` (RFC 6455 5.2: 2, 4 or 10 header bytes, unmasked). */
export function payloadText(frame: Buffer): string {
  const len = frame[1] & 0x7f;
  return frame.subarray(len < 126 ? 2 : len === 126 ? 4 : 10).toString();
}

/**
 * A stand-in for a ws socket as the Outbox uses it: `send` for the control frames ws frames
 * itself, `_sender.sendFrame` for frames already framed. Both record the text in `sent`.
 */
export function fakeSocket() {
  const socket = {
    readyState: 1,
    OPEN: 1,
    bufferedAmount: 0,
    sent: [] as string[],
    send(d: Buffer | string) {
      socket.sent.push(d.toString());
    },
    /** The TCP socket, which the Outbox corks for the rest of the tick. */
    _socket: {
      writableCorked: 0,
      cork() {
        socket._socket.writableCorked++;
      },
      uncork() {
        socket._socket.writableCorked--;
      },
    },
    _sender: {
      sendFrame(list: Buffer[]) {
        socket.sent.push(payloadText(list[0]));
      },
    },
  };
  return socket;
}

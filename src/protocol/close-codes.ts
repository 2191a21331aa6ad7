/** WebSocket close codes (PROTOCOL 7), shared by the server and the client. */
export const CloseCode = {
  shuttingDown: 1001,
  tooLarge: 1009,
  unauthenticated: 4401,
  forbidden: 4403,
  slowConsumer: 4008,
  tooManyFrames: 4429,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

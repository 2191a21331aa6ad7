export { Switchboard, type SwitchboardOptions } from './client.js';
export { ChatClient, ChatRoomHandle, HEARTBEAT_MS, type ChatRoomSnapshot } from './chat.js';
export type { ConnectionState, Status, TokenProvider, WebSocketConstructor, WebSocketLike } from './connection.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export * from './protocol.js';

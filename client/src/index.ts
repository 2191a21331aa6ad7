export { Switchboard, type SwitchboardOptions, type SwitchboardStatus } from './client.js';
export { CallError, CALL_TIMEOUT_MS, MAX_PENDING_CALLS, type CallOptions } from './calls.js';
export { ChatClient, ChatRoomHandle, HEARTBEAT_MS, compareMessages, type ChatRoomSnapshot, type OutgoingPost, type PostCode, type RoomError } from './chat.js';
export { describeStatus, type ConnectionState, type Status, type StatusReason, type TokenProvider, type WebSocketConstructor, type WebSocketLike } from './connection.js';
export { shareTabs, type ShareOptions, type Sharing, type TabShare } from './tabs.js';
export { backoffDelay, retryHint, type BackoffOptions } from './backoff.js';
export * from './protocol.js';

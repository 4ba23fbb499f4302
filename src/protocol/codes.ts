/**
 * Every error code and WebSocket close code chatfabric uses, in one table.
 * docs/protocol.md mirrors this file; a test checks that they agree.
 * This module imports nothing from Node or ws so that clients can share it.
 */

/** Error codes carried by `error` frames (extended dialect) and named in system messages (original dialect). */
export const ErrorCode = {
  /** The text frame is not valid JSON. */
  BadJson: 'bad_json',
  /** A binary frame arrived; the protocol is JSON text only. */
  BinaryFrame: 'binary_frame',
  /** The frame is larger than `limits.maxFrameBytes`. */
  FrameTooLarge: 'frame_too_large',
  /** The JSON is not an object with a string `type`. */
  InvalidFrame: 'invalid_frame',
  /** `type` is not one the dialect knows. */
  UnknownType: 'unknown_type',
  /** A required field is missing or has the wrong type (room and user names have their own codes). */
  InvalidField: 'invalid_field',
  /** A chat or direct message is longer than `limits.maxMessageLength`. */
  MessageTooLong: 'message_too_long',
  /** A chat or direct message has no visible text. */
  EmptyMessage: 'empty_message',
  /** A room name breaks the naming rule. */
  InvalidRoom: 'invalid_room',
  /** A username breaks the naming rule. */
  InvalidUsername: 'invalid_username',
  /** The username is held by another connection somewhere in the cluster. */
  UsernameTaken: 'username_taken',
  /** `list_users` / `users` named a room that has no members. */
  UnknownRoom: 'unknown_room',
  /** A direct message named a user who is not connected anywhere. */
  UserOffline: 'user_offline',
  /** A slash command the server does not know. */
  UnknownCommand: 'unknown_command',
  /** The sender exceeded the per-connection message rate; the message was not sent. */
  RateLimited: 'rate_limited',
  /** A backing service (NATS or Redis) is unavailable; retry later. */
  Unavailable: 'unavailable',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes. 1000-1015 are RFC 6455's; 4000-4999 are chatfabric's own. */
export const CloseCode = {
  /** Normal closure: the client asked to leave. */
  Normal: 1000,
  /** The worker is shutting down (drain or reload): reconnect, with backoff, and resume. */
  GoingAway: 1001,
  /** A frame exceeded the hard payload cap (`limits.maxPayloadBytes`); ws closes at once. */
  MessageTooBig: 1009,
  /** A backing service is down, so the connection cannot be set up now: retry later. */
  TryAgainLater: 1013,
  /** The username is taken (sent after a message saying so). Pick another name. */
  UsernameTaken: 4001,
  /** Too many bad frames or rate-limit hits in a short window. */
  Abuse: 4002,
  /** The client read too slowly (its send buffer passed `limits.maxBufferedBytes`, or it asked for history again before reading the last); reconnect and resume. */
  SlowConsumer: 4003,
  /** The client did not answer pings in time. */
  Unresponsive: 4004,
  /** A newer connection with the same username and session token took over. Do not reconnect. */
  SessionReplaced: 4005,
  /** The cluster lost this user's claim to another connection (for example after a Redis failover). */
  ClaimLost: 4007,
  /** The connection's token (auth.mode jwt) reached its expiry. Get a new token, then reconnect. */
  TokenExpired: 4008,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * Error codes that count towards the abuse limit: frames no well-behaved client sends. Mistakes a
 * person makes (a bad room name, an unknown command, an offline user) never close a connection.
 */
export const ABUSE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.BadJson,
  ErrorCode.BinaryFrame,
  ErrorCode.FrameTooLarge,
  ErrorCode.InvalidFrame,
  ErrorCode.UnknownType,
  ErrorCode.InvalidField,
  ErrorCode.RateLimited,
]);

/** Close codes after which a well-behaved client reconnects (with backoff) and resumes. */
export const RECONNECT_CODES: ReadonlySet<number> = new Set([
  CloseCode.GoingAway,
  CloseCode.TryAgainLater,
  CloseCode.SlowConsumer,
  CloseCode.Unresponsive,
  1006, // abnormal closure: the worker died or the network dropped
  1011, // server error
  1012, // service restart
]);

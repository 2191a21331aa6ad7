/** A token was refused; `message` is the short reason sent to the client (never token contents). */
export class AuthError extends Error {}

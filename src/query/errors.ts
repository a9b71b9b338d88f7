/**
 * A request that cannot be answered as asked. `field` names the request field (proto name);
 * the server maps this to INVALID_ARGUMENT with the message "<field>: <message>".
 */
export class QueryError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly kind: "invalid" | "not_found" = "invalid",
  ) {
    super(`${field}: ${message}`);
    this.name = "QueryError";
  }
}

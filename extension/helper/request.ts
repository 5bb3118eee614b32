// What every request handler of the helper shares: the error it throws (sent to the client as the reply's
// error payload) and the shape of a handler. The session core (session.ts) dispatches to the handler
// modules (objects.ts, maps.ts, traces.ts, processHandlers.ts) through these types.
import type { HelperErrorCode, HelperErrorPayload, HelperMethod, JsonValue, ParamsOf, ResultOf } from '../shared/helperProtocol';

export class HelperError extends Error {
  constructor(
    readonly code: HelperErrorCode,
    message: string,
    readonly extra: { remedy?: string; errno?: string; data?: { [k: string]: JsonValue } } = {},
  ) {
    super(message);
  }
  toPayload(): HelperErrorPayload {
    return { code: this.code, message: this.message, ...this.extra };
  }
}

export type Handler<M extends HelperMethod> = (
  params: ParamsOf<M>,
  ctx: { signal: AbortSignal; blob?: Buffer },
) => Promise<{ result: ResultOf<M>; blob?: Buffer }>;

/** A handler module's part of the table: the methods it answers. */
export type Handlers<K extends HelperMethod> = { [M in K]: Handler<M> };

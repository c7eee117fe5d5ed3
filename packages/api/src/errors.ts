import { type ErrorCode, type ErrorParams, errorSentence } from '@berth/contracts';

/**
 * The panel's own codes on top of contracts' ErrorCode. RATE_LIMITED belongs in contracts
 * (additively) once its owner adds it; it is here so sign-in throttling has an honest code.
 */
export type PanelErrorCode = ErrorCode | 'RATE_LIMITED';

/** What services throw: a code for programs and a sentence for a person. Never a stack. */
export class PanelError extends Error {
  override readonly name = 'PanelError';
  constructor(
    readonly code: PanelErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A PanelError with contracts' sentence for `code`. */
export function panelError<C extends ErrorCode>(
  code: C,
  ...params: ErrorParams<C> extends undefined ? [] : [ErrorParams<C>]
): PanelError {
  return new PanelError(code, errorSentence(code, ...params));
}

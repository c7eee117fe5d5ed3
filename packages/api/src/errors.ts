import { type ErrorCode, type ErrorParams, errorSentence } from '@berth/contracts';

/** The panel's codes are contracts' codes. */
export type PanelErrorCode = ErrorCode;

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

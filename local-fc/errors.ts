/** FC-shaped error answers: `{ ErrorCode, ErrorMessage }` with the status FC uses for each code. */

/** An error the local FC answers with; thrown anywhere in request handling. */
export class FcHttpError extends Error {
  override name = 'FcHttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string, msg: string) => new FcHttpError(404, what, msg);

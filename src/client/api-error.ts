/** The gateway's errors as the client throws them. */
import type { ErrorBody } from "../schemas/common.js";

export type ErrorDetail = NonNullable<ErrorBody["details"]>[number];

/**
 * An error answer from the gateway, carrying its shared error body (docs/CONTRACT.md §3):
 * `statusCode`, the stable `code` (e.g. `INVALID_ENVELOPE`) and `details` (JSON pointers into the
 * request; empty when the gateway sent none).
 */
export class BrainApiError extends Error {
  override name = "BrainApiError";
  readonly statusCode: number;
  readonly code: string;
  readonly details: ErrorDetail[];

  constructor(body: { statusCode: number; code: string; message: string; details?: ErrorDetail[] }) {
    super(body.message);
    this.statusCode = body.statusCode;
    this.code = body.code;
    this.details = body.details ?? [];
  }
}

/**
 * The error of a non-2xx answer. Something in front of the gateway (a proxy, a load balancer) may
 * answer without the shared body; then the code is `HTTP_<status>` and the message its text.
 */
export async function apiErrorOf(res: Response): Promise<BrainApiError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>;
    if (typeof body.code === "string" && typeof body.message === "string") {
      const details = Array.isArray(body.details) ? body.details : undefined;
      return new BrainApiError({ statusCode: res.status, code: body.code, message: body.message, details });
    }
  } catch {
    // not JSON: fall through to the plain form
  }
  const message = text.trim().slice(0, 500) || `HTTP ${res.status}`;
  return new BrainApiError({ statusCode: res.status, code: `HTTP_${res.status}`, message });
}

/**
 * Whether a failure means the server does not offer the service at all
 * (UNIMPLEMENTED): the page then says "not available on this server"
 * instead of showing an error the user can do nothing about.
 */
import { UnimplementedError } from "weftflow";

export function notAvailable(error: unknown): boolean {
  return error instanceof UnimplementedError;
}

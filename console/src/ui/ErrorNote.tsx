/**
 * How a failed call is shown: the server's message, its reason and code,
 * and any field violations, in an alert region screen readers announce.
 */
import { WeftError } from "weftflow";

export function describeError(error: unknown): string {
  if (error instanceof WeftError) {
    const reason = error.reason ? ` (${error.reason})` : "";
    return `${error.rawMessage || error.message}${reason}`;
  }
  return error instanceof Error ? error.message : String(error);
}

export function ErrorNote({ error, title }: { error: unknown; title?: string }) {
  if (error === undefined || error === null) return null;
  const violations = error instanceof WeftError ? error.fieldViolations : [];
  return (
    <div role="alert" className="error-note">
      {title && <strong>{title}: </strong>}
      {describeError(error)}
      {violations.length > 0 && (
        <ul>
          {violations.map((v) => (
            <li key={`${v.field}:${v.description}`}>
              <code>{v.field}</code>: {v.description}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

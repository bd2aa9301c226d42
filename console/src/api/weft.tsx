/**
 * The console's one connection to the server: the TypeScript SDK over
 * gRPC-web, same origin, with the session's API key. Components read it
 * with `useWeft()`. A call refused for want of a key (UNAUTHENTICATED, or
 * PERMISSION_DENIED naming the key) opens the key prompt through
 * `useAuthPrompt()`.
 */
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { Weft, WeftError } from "weftflow";
import { storedKey, storeKey } from "./session";

interface Connection {
  weft: Weft;
  /** Whether a key is set for this tab. */
  hasKey: boolean;
  /** Replaces the key (empty: forget it) and reconnects. */
  setKey(key: string): void;
  /** Set when a call was refused for want of a valid key. */
  needsKey: boolean;
  /** Called by data hooks with every failure, to notice auth refusals. */
  report(error: unknown): void;
}

const ConnectionContext = createContext<Connection | null>(null);

/** Whether an error means "send a (different) API key". */
export function isAuthError(error: unknown): boolean {
  return error instanceof WeftError && (error.code === 16 /* Unauthenticated */ || error.reason === "API_KEY_INVALID" || error.reason === "API_KEY_REQUIRED");
}

export function WeftProvider({ children, baseUrl }: { children: ReactNode; baseUrl?: string }) {
  const [key, setKeyState] = useState(storedKey);
  const [needsKey, setNeedsKey] = useState(false);
  const weft = useMemo(
    () => new Weft({ baseUrl: baseUrl ?? window.location.origin, transport: "grpc-web", apiKey: key || undefined }),
    [baseUrl, key],
  );
  const setKey = useCallback((next: string) => {
    storeKey(next);
    setKeyState(next);
    setNeedsKey(false);
  }, []);
  const report = useCallback((error: unknown) => {
    if (isAuthError(error)) setNeedsKey(true);
  }, []);
  const value = useMemo(() => ({ weft, hasKey: key !== "", setKey, needsKey, report }), [weft, key, setKey, needsKey, report]);
  return <ConnectionContext.Provider value={value}>{children}</ConnectionContext.Provider>;
}

export function useConnection(): Connection {
  const connection = useContext(ConnectionContext);
  if (!connection) throw new Error("useConnection outside WeftProvider");
  return connection;
}

/** The SDK client of this tab. */
export function useWeft(): Weft {
  return useConnection().weft;
}

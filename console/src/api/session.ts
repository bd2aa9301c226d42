/**
 * The API key the console sends, kept in session storage: it lives as long
 * as the tab, is never written to a URL, a cookie or local storage, and is
 * gone when the tab closes.
 */
const KEY = "weft.apiKey";

export function storedKey(): string {
  try {
    return sessionStorage.getItem(KEY) ?? "";
  } catch {
    return "";
  }
}

export function storeKey(key: string): void {
  try {
    if (key) sessionStorage.setItem(KEY, key);
    else sessionStorage.removeItem(KEY);
  } catch {
    // Storage refused (private mode): the key lives in memory only.
  }
}

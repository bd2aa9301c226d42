/**
 * Asking before leaving a page that holds unsaved work. wouter has no
 * navigation blocker, so the app's Router is given `useGuardedLocation`:
 * the browser location hook with a navigate that first asks the guards
 * pages registered with `useLeaveGuard`. Every in-app Link, Redirect and
 * navigate() goes through it, so no link needs to know about guards.
 * Closing or reloading the tab gets the browser's own `beforeunload`
 * prompt from the same guard. Not held: the browser's Back and Forward
 * buttons (popstate cannot be cancelled; the page is left as is).
 */
import { useEffect } from "react";
import { navigate, useBrowserLocation } from "wouter/use-browser-location";

/** Says whether leaving now would lose something; read at the moment of leaving. */
export type LeaveGuard = () => boolean;

const MESSAGE = "You have unsaved changes. Leave this page and lose them?";

// Usually one page's guard; a set keeps the order of mounting and
// unmounting irrelevant.
const guards = new Set<LeaveGuard>();

/**
 * True when no guard has anything to lose, or the user agrees to lose it.
 * Agreeing stands every guard down: the page being left can outlive the
 * navigation (Suspense keeps it, hidden, while the next page's code
 * loads), and closing the tab meanwhile must not ask again.
 */
function mayLeave(): boolean {
  for (const guard of guards) {
    if (!guard()) continue;
    if (!window.confirm(MESSAGE)) return false;
    guards.clear();
    return true;
  }
  return true;
}

/**
 * Registers `unsaved` while the calling component is mounted. Pass a
 * stable function (useCallback) that reads the latest state through refs:
 * a save can then clear it in the same tick as it navigates away.
 */
export function useLeaveGuard(unsaved: LeaveGuard): void {
  useEffect(() => {
    const onBeforeUnload = (event: BeforeUnloadEvent) => {
      if (!guards.has(unsaved) || !unsaved()) return;
      // preventDefault is the standard; Chromium before 119 also needs returnValue.
      event.preventDefault();
      event.returnValue = "";
    };
    guards.add(unsaved);
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => {
      guards.delete(unsaved);
      window.removeEventListener("beforeunload", onBeforeUnload);
    };
  }, [unsaved]);
}

const guardedNavigate: typeof navigate = (to, options) => {
  if (mayLeave()) navigate(to, options);
};

/** The Router's location hook: the browser's location, with guarded navigation. */
export function useGuardedLocation(options?: { ssrPath?: string }): [string, typeof navigate] {
  const [location] = useBrowserLocation(options);
  return [location, guardedNavigate];
}

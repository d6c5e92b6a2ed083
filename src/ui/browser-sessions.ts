// PRIVATE COPY of the ui helper's contract (issue 11, "Shared contract"): the ui branch owns
// this file and replaces it at merge. Only the exported signatures are the contract.
import type { IncomingMessage } from "node:http";

export interface BrowserUser {
  userId: string;
  sessionId: string;
}

export interface BrowserSessions {
  /** The signed-in user of this request (session cookie), null when none/expired/revoked. */
  current(req: IncomingMessage): Promise<BrowserUser | null>;
}

/** Where to send a browser that must sign in first; return_to is a same-origin path only. */
export function signInLocation(returnTo: string): string {
  const path = returnTo.startsWith("/") && !returnTo.startsWith("//") && !returnTo.startsWith("/\\") ? returnTo : "/";
  return `/ui/login?return_to=${encodeURIComponent(path)}`;
}

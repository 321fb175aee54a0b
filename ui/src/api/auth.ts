import { create } from "zustand";

/**
 * Whether the API accepts this page. The session is an HttpOnly cookie the
 * page cannot see, so "signed in" is learnt from answers: any 401 flips this
 * to `signed_out` and the desktop shows how to sign in.
 */
export type AuthStatus = "unknown" | "signed_in" | "signed_out";

interface AuthStore {
  status: AuthStatus;
  /** Last 401's message from the server, shown on the sign-in screen. */
  reason: string;
  /** The user signed out here (not a session the server refused). */
  byUser: boolean;
}

export const useAuthStore = create<AuthStore>()(() => ({ status: "unknown", reason: "", byUser: false }));

export const markSignedIn = () => {
  if (useAuthStore.getState().status !== "signed_in") useAuthStore.setState({ status: "signed_in", reason: "", byUser: false });
};
/** A 401: the server refused this page's session. */
export const markSignedOut = (reason: string) => useAuthStore.setState({ status: "signed_out", reason, byUser: false });
/** The user signed out from the system menu. */
export const markSignedOutByUser = () => useAuthStore.setState({ status: "signed_out", reason: "", byUser: true });
export const resetAuthStore = () => useAuthStore.setState({ status: "unknown", reason: "", byUser: false });

/**
 * The one-time login URL `agentos up` prints is `/?token=…`. The page spends
 * it with `POST /api/auth/exchange {"token"}`, which answers with the HttpOnly
 * session cookie, and removes the token from the address bar and history
 * first, so it is never bookmarked or shared. (A token already spent is
 * refused; a 401 later shows the sign-in notice.)
 */
export async function consumeLoginToken(
  location: Location = window.location,
  history: History = window.history,
  fetchImpl: typeof fetch = fetch,
): Promise<void> {
  const url = new URL(location.href);
  const token = url.searchParams.get("token");
  if (!token) return;
  url.searchParams.delete("token");
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  try {
    await fetchImpl("/api/auth/exchange", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
  } catch {
    // The API answers 401 later if the cookie was not set; that screen explains.
  }
}

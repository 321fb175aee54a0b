import { useAuthStore } from "../api/auth";
import { bootDesktop } from "./boot";

/** Shown when the API answers 401: this page has no session cookie yet. */
export function SignInNotice() {
  const auth = useAuthStore();
  if (auth.status !== "signed_out") return null;
  const origin = typeof location !== "undefined" ? location.origin : "http://127.0.0.1:8000";
  return (
    <section className="signin" role="alertdialog" aria-labelledby="signin-title" aria-describedby="signin-text" data-testid="signin-required">
      <h2 id="signin-title">Sign in to AgentOS</h2>
      <p id="signin-text">
        This page has no session, so apps cannot be listed or launched. Open the <strong>login URL printed by{" "}
        <code>agentos up</code></strong> in its terminal — it looks like <code className="mono">{origin}/?token=…</code> — in this
        browser. The link is for one sign-in; run <code>agentos up</code> again for a new one.
      </p>
      {auth.reason && <p className="muted">Server said: {auth.reason}</p>}
      <button type="button" className="btn" onClick={() => void bootDesktop()}>
        Try again
      </button>
    </section>
  );
}

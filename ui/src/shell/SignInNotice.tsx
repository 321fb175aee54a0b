import { useId, useState } from "react";
import { useAuthStore } from "../api/auth";
import { api } from "../api/client";
import { bootDesktop } from "./boot";

/**
 * Shown when the API answers 401: this page has no session cookie. The
 * owner's way in is the login URL `agentos up` printed; any account can also
 * sign in with its name and password (POST /api/auth/login).
 */
export function SignInNotice() {
  const auth = useAuthStore();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  if (auth.status !== "signed_out") return null;
  const origin = typeof location !== "undefined" ? location.origin : "http://127.0.0.1:8000";

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.login(username, password);
      setPassword("");
      await bootDesktop();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="signin" role="alertdialog" aria-labelledby="signin-title" aria-describedby="signin-text" data-testid="signin-required">
      <h2 id="signin-title">Sign in to AgentOS</h2>
      <p id="signin-text">
        {auth.byUser ? "You signed out. " : "This page has no session, so apps cannot be listed or launched. "}
        Open the <strong>login URL printed by <code>agentos up</code></strong> in its terminal — it looks like{" "}
        <code className="mono">{origin}/?token=…</code> — in this browser, or sign in with an account below.
      </p>
      {auth.reason && <p className="muted small">Server said: {auth.reason}</p>}
      <form className="signin-form" onSubmit={(e) => void submit(e)}>
        <label htmlFor={`${id}-user`}>User name</label>
        {/* Focus starts here, so a keyboard user can sign in at once (after signing out, focus was in a menu that is gone). */}
        <input id={`${id}-user`} autoFocus autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
        <label htmlFor={`${id}-pass`}>Password</label>
        <input id={`${id}-pass`} type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        {error && (
          <p className="signin-error" role="alert">
            {error}
          </p>
        )}
        <div className="signin-actions">
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
          <button type="button" className="btn" onClick={() => void bootDesktop()}>
            I opened the login URL — try again
          </button>
        </div>
      </form>
    </section>
  );
}

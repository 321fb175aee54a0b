import { Component, type ErrorInfo, type ReactNode } from "react";

/** One per window: an app that throws shows why, in its own window, and can be reloaded. */
export class ErrorBoundary extends Component<{ name: string; children: ReactNode }, { error: Error | null }> {
  override state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo) {
    console.error(`${this.props.name} crashed`, error, info.componentStack);
  }

  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="error-box" role="alert">
        <strong>{this.props.name} stopped working</strong>
        <pre>{this.state.error.message}</pre>
        <button type="button" className="btn" onClick={() => this.setState({ error: null })}>
          Reload app
        </button>
      </div>
    );
  }
}

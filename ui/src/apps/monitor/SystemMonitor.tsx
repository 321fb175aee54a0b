import type { AppContext } from "../context";

export default function App(_: { ctx: AppContext }) {
  return <p className="app-pane">Not built yet.</p>;
}

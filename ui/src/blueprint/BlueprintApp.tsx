import type { AppContext } from "../apps/context";
import type { Proc } from "../apps/processes";

export default function BlueprintApp(_: { ctx: AppContext; proc: Proc }) {
  return <p className="app-pane">Blueprint rendering lands in the next step.</p>;
}

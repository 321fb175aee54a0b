import { notify } from "../shell/store";

export async function generateApp(description: string): Promise<void> {
  notify("info", `Generating “${description}” lands with the Blueprint renderer`);
}

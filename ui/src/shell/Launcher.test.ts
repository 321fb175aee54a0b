import { describe, expect, it } from "vitest";
import { searchApps, type Candidate } from "./Launcher";

const app = (id: string, name: string, category: string, description = ""): Candidate => ({ id, name, icon: id, category, description, type: "blueprint" });
const all = [
  app("calculator", "Calculator", "utilities", "arithmetic with precedence"),
  app("notes", "Notes", "productivity", "write things down"),
  app("todo", "Todo List", "productivity"),
  app("timer", "Pomodoro Timer", "utilities", "focus sessions"),
  app("monitor", "System Monitor", "system"),
];

describe("searchApps", () => {
  it("ranks name prefix, then word prefix, then substring, then category, then description", () => {
    expect(searchApps(all, "t").map((c) => c.id)).toEqual(["todo", "timer", "calculator", "notes", "monitor"]);
    expect(searchApps(all, "mon").map((c) => c.id)).toEqual(["monitor"]);
    expect(searchApps(all, "productivity").map((c) => c.id)).toEqual(["notes", "todo"]);
    expect(searchApps(all, "precedence").map((c) => c.id)).toEqual(["calculator"]);
    expect(searchApps(all, "a pomodoro timer with breaks")).toEqual([]);
  });
  it("lists everything by name for an empty query", () => {
    expect(searchApps(all, "  ").map((c) => c.name)).toEqual(["Calculator", "Notes", "Pomodoro Timer", "System Monitor", "Todo List"]);
  });
});

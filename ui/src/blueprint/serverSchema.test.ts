import { describe, expect, it } from "vitest";
import { COMPONENT_TYPES } from "./schema";
import { componentTypesInSchema, missingComponentTypes } from "./serverSchema";

/** Shaped like a schemars schema of an internally tagged Rust enum. */
const schemaWith = (types: string[]) => ({
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $defs: {
    Component: {
      oneOf: types.map((t) => ({ type: "object", properties: { type: { const: t }, id: { type: "string" }, props: { $ref: `#/$defs/${t}` } }, required: ["type", "id"] })),
    },
  },
  properties: { ui: { properties: { layout: { type: "string", enum: ["vertical", "horizontal"] } } } },
});

describe("server Blueprint schema", () => {
  it("finds component types given as const or enum of a `type` property", () => {
    expect([...componentTypesInSchema(schemaWith(["button", "text"]))].sort()).toEqual(["button", "text"]);
    expect([...componentTypesInSchema({ properties: { type: { enum: ["a", "b"] } } })]).toEqual(["a", "b"]);
  });

  it("names what the renderer lacks, and nothing when it has all 23", () => {
    expect(missingComponentTypes(schemaWith([...COMPONENT_TYPES]))).toEqual([]);
    expect(missingComponentTypes(schemaWith([...COMPONENT_TYPES, "chart", "map"]))).toEqual(["chart", "map"]);
  });
});

import { describe, expect, it } from "vitest";
import { stylesLoaded } from "./stylesLoaded";

describe("stylesLoaded", () => {
  it("waits for every late stylesheet, then switches it to all media", async () => {
    const doc = document.implementation.createHTMLDocument("t");
    const links = ["/a.css", "/b.css"].map((href) => {
      const link = doc.createElement("link");
      link.rel = "stylesheet";
      link.media = "print";
      link.href = href;
      doc.head.append(link);
      return link;
    });
    let done = false;
    const ready = stylesLoaded(doc).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 0));
    expect(done).toBe(false);
    links[0]!.dispatchEvent(new Event("load"));
    await new Promise((r) => setTimeout(r, 0));
    expect(done).toBe(false);
    // A sheet that fails does not hold the desktop back.
    links[1]!.dispatchEvent(new Event("error"));
    await ready;
    expect(links.map((l) => l.media)).toEqual(["all", "all"]);
  });

  it("resolves at once when the page has no late stylesheet (the dev server, tests)", async () => {
    await expect(stylesLoaded(document.implementation.createHTMLDocument("t"))).resolves.toBeUndefined();
  });
});

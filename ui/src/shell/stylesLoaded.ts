/**
 * The built index.html loads its stylesheets without blocking the first paint
 * (`media="print"`, switched to `all` on load: vite.config.ts's
 * lateStylesheets). This resolves once every such sheet is in, so React's first
 * render, which replaces the static shell, is never drawn unstyled. A sheet
 * that fails to load does not hold the desktop back.
 */
export function stylesLoaded(doc: Document = document): Promise<void> {
  const pending = [...doc.querySelectorAll<HTMLLinkElement>('link[rel="stylesheet"][media="print"]')];
  return Promise.all(
    pending.map(
      (link) =>
        new Promise<void>((resolve) => {
          link.addEventListener("load", () => resolve(), { once: true });
          link.addEventListener("error", () => resolve(), { once: true });
          // Loaded before this ran: its onload already switched it (or will, in this task).
          if (link.sheet) resolve();
        }),
    ),
  ).then(() => {
    for (const link of pending) link.media = "all";
  });
}

/** 3145728 → "3.0 MiB". */
export function formatBytes(n: number | undefined): string {
  if (n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatPercent(n: number | undefined): string {
  return n === undefined ? "—" : `${n.toFixed(1)} %`;
}

/** "utilities" → "Utilities": a category or a name as a heading shows it. */
export function capitalize(s: string): string {
  return s ? s[0]!.toUpperCase() + s.slice(1) : s;
}

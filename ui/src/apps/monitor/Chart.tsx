import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const COLORS = ["#8ab4ff", "#f472b6", "#4ade80", "#fbbf24", "#c084fc", "#38bdf8", "#fb923c"];

export interface Line {
  label: string;
  values: (number | null)[];
}

/**
 * A live line chart (uPlot): one line per app, x = time. Rebuilt when the
 * set of lines changes, otherwise only its data is replaced.
 */
export function Chart({ title, times, lines, format }: { title: string; times: number[]; lines: Line[]; format: (n: number) => string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const labels = lines.map((l) => l.label).join("\u0000");

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    try {
      const opts: uPlot.Options = {
        width: Math.max(200, el.clientWidth),
        height: 150,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [
          { stroke: "#a3a9ba", grid: { stroke: "rgba(255,255,255,0.06)" }, ticks: { stroke: "rgba(255,255,255,0.1)" } },
          { stroke: "#a3a9ba", size: 70, values: (_u, ticks) => ticks.map(format), grid: { stroke: "rgba(255,255,255,0.06)" } },
        ],
        series: [{}, ...lines.map((l, i) => ({ label: l.label, stroke: COLORS[i % COLORS.length], width: 2, value: (_u: uPlot, v: number | null) => (v == null ? "—" : format(v)) }))],
      };
      plot.current = new uPlot(opts, [times, ...lines.map((l) => l.values)] as uPlot.AlignedData, el);
      const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height: 150 }));
      ro.observe(el);
      setFailed(null);
      return () => {
        ro.disconnect();
        plot.current?.destroy();
        plot.current = null;
      };
    } catch (err) {
      setFailed(err instanceof Error ? err.message : String(err));
      return undefined;
    }
    // Rebuilt only when the lines change; data updates below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [labels]);

  useEffect(() => {
    plot.current?.setData([times, ...lines.map((l) => l.values)] as uPlot.AlignedData);
  }, [times, lines]);

  const last = lines.map((l) => `${l.label} ${l.values.at(-1) == null ? "—" : format(l.values.at(-1)!)}`).join(", ");
  return (
    <figure className="chart" style={{ margin: 0 }}>
      <figcaption className="small muted">{title}</figcaption>
      {failed ? <p className="unavailable">Chart unavailable: {failed}</p> : <div ref={host} role="img" aria-label={`${title}: ${last || "no data yet"}`} />}
    </figure>
  );
}

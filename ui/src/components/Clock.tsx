import { useEffect, useState } from "react";
import { formatClock } from "../lib/time";

/** Live clock; re-renders on each wall-clock second boundary. */
export function Clock() {
  const [now, setNow] = useState(() => new Date());

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout>;
    const schedule = () => {
      // Aim just past the next second so the display flips on the second.
      const delay = 1000 - (Date.now() % 1000) + 5;
      timer = setTimeout(() => {
        setNow(new Date());
        schedule();
      }, delay);
    };
    schedule();
    return () => clearTimeout(timer);
  }, []);

  return (
    <time className="menubar-clock" data-testid="menubar-clock" dateTime={now.toISOString()}>
      {formatClock(now)}
    </time>
  );
}

import { useId } from "react";
import type { AppContext } from "../context";
import { defaultSettings, updateSettings, useSettings, type Settings as S } from "./settingsStore";
import "../apps.css";

const ACCENTS = [
  ["Blue", "#8ab4ff"],
  ["Purple", "#c4a1ff"],
  ["Pink", "#f9a8d4"],
  ["Orange", "#fdba74"],
  ["Green", "#86efac"],
] as const;
const WALLPAPERS: S["wallpaper"][] = ["aurora", "dusk", "forest", "graphite"];

/** Settings: appearance and session preferences, applied at once and kept in this browser. */
export default function Settings(_: { ctx: AppContext }) {
  const s = useSettings();
  const id = useId();
  return (
    <div className="app-pane settings">
      <fieldset>
        <legend>Appearance</legend>
        <div className="field-row" role="radiogroup" aria-label="Theme">
          {(["dark", "light"] as const).map((t) => (
            <label key={t} className="choice">
              <input type="radio" name={`${id}-theme`} checked={s.theme === t} onChange={() => updateSettings({ theme: t })} />
              {t === "dark" ? "Dark" : "Light"}
            </label>
          ))}
        </div>
        <div className="field-row" role="radiogroup" aria-label="Accent colour">
          {ACCENTS.map(([name, value]) => (
            <label key={value} className="swatch" title={name}>
              <input type="radio" name={`${id}-accent`} aria-label={name} checked={s.accent === value} onChange={() => updateSettings({ accent: value })} />
              <span style={{ background: value }} aria-hidden="true" />
            </label>
          ))}
        </div>
        <label className="field">
          <span>Wallpaper</span>
          <select value={s.wallpaper} onChange={(e) => updateSettings({ wallpaper: e.target.value as S["wallpaper"] })}>
            {WALLPAPERS.map((w) => (
              <option key={w} value={w}>
                {w[0]!.toUpperCase() + w.slice(1)}
              </option>
            ))}
          </select>
        </label>
      </fieldset>
      <fieldset>
        <legend>Sessions</legend>
        <label className="choice">
          <input type="checkbox" checked={s.restoreOnLogin} onChange={(e) => updateSettings({ restoreOnLogin: e.target.checked })} />
          Restore the last saved workspace when the desktop opens
        </label>
      </fieldset>
      <p className="muted small">
        Kept in this browser. Scheduler policy, default grants and the LLM endpoint need the services layer's settings API, which is not
        there yet.
      </p>
      <button type="button" className="btn" onClick={() => updateSettings(defaultSettings)}>
        Reset to defaults
      </button>
    </div>
  );
}

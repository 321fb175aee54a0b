import { useId } from "react";
import { capitalize } from "../../lib/format";
import type { AppContext } from "../context";
import { defaultSettings, updateSettings, useSettings, type Settings as S } from "./settingsStore";
import "../apps.css";
import { useSettingsSync } from "./serverSettings";

const ACCENTS = [
  ["Blue", "#8ab4ff"],
  ["Purple", "#c4a1ff"],
  ["Pink", "#f9a8d4"],
  ["Orange", "#fdba74"],
  ["Green", "#86efac"],
] as const;
const WALLPAPERS: S["wallpaper"][] = ["aurora", "dusk", "forest", "graphite"];

/**
 * Settings: appearance, sessions, the kernel scheduler, default grants and the
 * LLM endpoint; applied at once and saved per user on the server.
 */
export default function Settings(_: { ctx: AppContext }) {
  const s = useSettings();
  const id = useId();
  const boostHint = `${id}-boost`;
  const sync = useSettingsSync();
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
                {capitalize(w)}
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
      <fieldset>
        <legend>Scheduler</legend>
        <label className="field">
          <span>Policy</span>
          <select aria-label="Scheduler policy" value={s.schedPolicy} onChange={(e) => updateSettings({ schedPolicy: e.target.value as S["schedPolicy"] })}>
            <option value="fair">Fair, focused app boosted</option>
            <option value="priority">By priority, focused app boosted</option>
            <option value="round_robin">Round-robin</option>
          </select>
        </label>
        {/* A short label beside the slider, its value after it, what it means below (it wrapped beside the slider). */}
        <label className="field">
          <span>Focus boost</span>
          <input
            type="range"
            aria-label="Focus boost"
            aria-describedby={boostHint}
            aria-valuetext={`${s.focusBoost}×`}
            min={1}
            max={16}
            step={1}
            value={s.focusBoost}
            disabled={s.schedPolicy === "round_robin"}
            onChange={(e) => updateSettings({ focusBoost: Number(e.target.value) })}
          />
          <output>{s.focusBoost}×</output>
        </label>
        <p id={boostHint} className="muted small field-hint">
          {s.schedPolicy === "round_robin" ? "No boost under round-robin: every app gets the same CPU share." : `The focused app gets ${s.focusBoost}× the CPU share of the others.`}
        </p>
        <label className="choice">
          <input type="checkbox" checked={s.freezeMinimised} onChange={(e) => updateSettings({ freezeMinimised: e.target.checked })} />
          Freeze minimised apps' processes
        </label>
      </fieldset>
      <fieldset>
        <legend>New apps</legend>
        <label className="field">
          <span>Default grants (comma-separated)</span>
          <input
            aria-label="Default grants"
            defaultValue={s.defaultGrants.join(", ")}
            key={s.defaultGrants.join(",")}
            onBlur={(e) => updateSettings({ defaultGrants: e.target.value.split(",").map((g) => g.trim()).filter(Boolean) })}
          />
        </label>
        <p className="muted small">Given to every native process you launch from now on (e.g. <code>time</code>, <code>read:/srv/*</code>); a restored workspace keeps the grants it was saved with.</p>
      </fieldset>
      <fieldset>
        <legend>UI generation</legend>
        <label className="field">
          <span>LLM endpoint</span>
          <input aria-label="LLM endpoint" type="url" placeholder="https://…/v1/chat/completions" defaultValue={s.llmUrl} key={`u${s.llmUrl}`} onBlur={(e) => updateSettings({ llmUrl: e.target.value.trim() })} />
        </label>
        <label className="field">
          <span>Model</span>
          <input aria-label="LLM model" defaultValue={s.llmModel} key={`m${s.llmModel}`} onBlur={(e) => updateSettings({ llmModel: e.target.value.trim() })} />
        </label>
        <p className="muted small">Apps you generate use this endpoint (no key is sent to it). Empty, or unreachable: the built-in rule generator answers, and says so.</p>
      </fieldset>
      <p className="muted small" role="status" aria-label="Settings saved">
        {sync.phase === "saving" ? "Saving…" : sync.phase === "saved" ? "Saved on the server." : sync.phase === "error" ? `Not saved: ${sync.error}` : sync.phase === "loaded" ? "Your settings, from the server." : "Kept in this browser until you sign in."}
      </p>
      <button type="button" className="btn" onClick={() => updateSettings(defaultSettings)}>
        Reset to defaults
      </button>
    </div>
  );
}

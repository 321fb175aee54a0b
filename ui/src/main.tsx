import * as React from "react";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { stylesLoaded } from "./shell/stylesLoaded";
import "./index.css";

// Native web apps served by the services layer (apps/native/<id>/) render with this React.
(globalThis as { AgentOS?: unknown }).AgentOS = { React, version: 1 };

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root element");

// The static shell in index.html stays up until the stylesheets are in; then React replaces it.
void stylesLoaded().then(() =>
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  ),
);

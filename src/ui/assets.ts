import { Router, type Response } from "express";
import { setPageHeaders } from "./page.js";

/** The pages' one stylesheet: readable, visible focus, nothing fetched from elsewhere. */
const STYLESHEET = `:root { color-scheme: light dark; --accent: #1d4ed8; --line: #8884; font: 16px/1.5 system-ui, sans-serif; }
body { margin: 0 auto; max-width: 60rem; padding: 0 1rem 3rem; }
header { border-bottom: 1px solid var(--line); margin-bottom: 1rem; display: flex; justify-content: space-between; align-items: center; flex-wrap: wrap; gap: 1rem; }
.brand { font-weight: 700; font-size: 1.2rem; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: Canvas; padding: .5rem; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
main:focus { outline: none; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
caption { text-align: left; font-weight: 600; padding: .4rem 0; }
form.inline { display: inline; }
fieldset { border: 1px solid var(--line); border-radius: .4rem; margin: 1rem 0; padding: .5rem 1rem 1rem; }
label { display: block; margin-top: .6rem; }
label.check { display: flex; gap: .4rem; align-items: center; }
input[type=text], select { font: inherit; padding: .3rem; min-width: 16rem; max-width: 100%; }
button { font: inherit; padding: .35rem .9rem; border-radius: .3rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; margin-top: .6rem; }
button.secondary { background: transparent; color: inherit; border-color: var(--line); }
button.danger { background: #b91c1c; border-color: #b91c1c; }
.account { display: flex; gap: 1rem; align-items: baseline; }
.account button { margin-top: 0; }
.users { list-style: none; padding: 0; display: flex; flex-direction: column; align-items: flex-start; gap: .2rem; }
.secret { display: block; padding: .6rem; border: 1px dashed var(--line); word-break: break-all; font-size: 1.05rem; }
.notice { padding: .6rem 1rem; border-left: 4px solid var(--accent); background: #8881; }
.error { padding: .6rem 1rem; border-left: 4px solid #b91c1c; background: #b91c1c1a; }
.muted { opacity: .75; }
`;

/** The copy button of a new token: copies the text of the element it names, and says so. */
const COPY_SCRIPT = `"use strict";
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const target = document.getElementById(button.dataset.copy);
    const status = document.getElementById(button.dataset.status);
    try {
      await navigator.clipboard.writeText(target.textContent);
      status.textContent = "Copied to the clipboard.";
    } catch {
      getSelection().selectAllChildren(target);
      status.textContent = "Selected: press Ctrl+C (or Cmd+C) to copy.";
    }
  });
}
`;

export const COPY_SCRIPT_PATH = "/ui/assets/copy.js";

function serve(res: Response, type: string, body: string): void {
  setPageHeaders(res);
  // Part of the release: a browser may keep it for an hour.
  res.setHeader("Cache-Control", "public, max-age=3600");
  res.type(type).send(body);
}

/** /ui/assets/: the stylesheet and the copy script, from Tollgate's own origin (what the CSP allows). */
export function assetRoutes(): Router {
  const router = Router();
  router.get("/ui/assets/ui.css", (_req, res) => serve(res, "text/css; charset=utf-8", STYLESHEET));
  router.get(COPY_SCRIPT_PATH, (_req, res) => serve(res, "text/javascript; charset=utf-8", COPY_SCRIPT));
  return router;
}

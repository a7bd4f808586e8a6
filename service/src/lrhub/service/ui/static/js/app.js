// The dashboard: sign-in, then pages routed by the URL fragment (#/jobs, #/jobs/<id>,
// #/compare?jobs=a,b, #/schedules, #/rollouts).

import { ApiError, api, session, setToken } from "./api.js";
import { h, replace } from "./dom.js";
import { jobsPage } from "./jobs.js";
import { jobPage } from "./job.js";
import { comparePage } from "./compare.js";
import { schedulesPage } from "./schedules.js";
import { rolloutsPage } from "./rollouts.js";

const main = document.getElementById("main");
const who = document.getElementById("who");
let leavePage = null; // what the page on screen needs done when it goes (close its stream)

/** Who the token (or no token) is; null when the server wants another one (401). */
async function whoAmI() {
  try {
    return await api("GET", "/v1/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

function showWho() {
  const me = session.me;
  if (!me) {
    replace(who);
    return;
  }
  replace(who,
    h("span", { class: "who-name" }, me.name), " ",
    h("span", { class: `badge badge-role` }, me.role),
    me.auth ? h("button", { type: "button", class: "link", id: "sign-out", onclick: signOut }, "Sign out") : null);
}

function signOut() {
  setToken(null);
  session.me = null;
  start();
}

function signInPage(message) {
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "off", required: true, placeholder: "lrt_… or an admin token" });
  const error = h("p", { class: "error", id: "sign-in-error", role: "alert" }, message || "");
  const form = h("form", { class: "card sign-in", id: "sign-in", onsubmit: async (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    const me = await whoAmI().catch((e) => { error.textContent = e.message; return undefined; });
    if (me === null) {
      setToken(null);
      error.textContent = "That token is not valid here (unknown, revoked or expired).";
    } else if (me) {
      session.me = me;
      start();
    }
  } },
  h("h1", {}, "Sign in"),
  h("p", {}, "Paste a viewer, operator or admin token. It is kept in this tab only."),
  h("label", { for: "token" }, "Token"), input,
  h("button", { type: "submit" }, "Sign in"), error);
  replace(main, form);
  input.focus();
}

// Each route() is one visit, drawn into a view of its own: a page still loading when the next
// visit starts is stale, draws into its detached view, its leave function runs as soon as it
// answers, and its errors no longer reach the screen.
let visit = 0;

async function route() {
  const mine = ++visit;
  if (leavePage) leavePage();
  leavePage = null;
  const [rawPath, queryText] = window.location.hash.replace(/^#\/?/, "").split("?", 2);
  const path = decodeURIComponent(rawPath);
  const query = new URLSearchParams(queryText || "");
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", path.startsWith(link.dataset.nav));
  }
  const view = h("div", { class: "view" });
  replace(main, view);
  try {
    let leave;
    if (path.startsWith("jobs/")) leave = await jobPage(view, path.slice("jobs/".length));
    else if (path === "compare") leave = await comparePage(view, query);
    else if (path.startsWith("rollouts")) leave = await rolloutsPage(view, path.slice("rollouts/".length));
    else if (path.startsWith("schedules")) leave = await schedulesPage(view, path.slice("schedules/".length));
    else leave = await jobsPage(view, query);
    if (mine === visit) leavePage = leave;
    else if (leave) leave();
  } catch (error) {
    if (mine !== visit) return;
    if (error instanceof ApiError && error.status === 401) {
      setToken(null);
      session.me = null;
      signInPage("The token stopped working; sign in again.");
      return;
    }
    replace(main, h("div", { class: "card" }, h("h1", {}, "Something went wrong"), h("p", { class: "error" }, error.message)));
  }
}

async function start() {
  session.me = await whoAmI();
  showWho();
  if (session.me === null) {
    if (session.token) setToken(null);
    signInPage();
    return;
  }
  route();
}

window.addEventListener("hashchange", () => { if (session.me) route(); });
start();

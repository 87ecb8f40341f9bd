// Sign-in: the link's token is in the address's fragment (never sent to the server, so it
// reaches no log). It is removed from the address bar and history at once, then traded once
// for the HttpOnly session cookie.

import { $, api } from "./common.js";

const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
history.replaceState(null, "", "/login");

function fail(title, text) {
  $("login-title").textContent = title;
  $("login-text").textContent = text;
  $("login-hint").hidden = false;
  document.body.dataset.state = "failed";
}

async function signIn() {
  if (!token) {
    fail("No sign-in link", "This page signs you in from a link printed by the gateway, and the address has no link token in it.");
    return;
  }
  try {
    const who = await api("/api/auth/login", { method: "POST", body: { token } });
    $("login-title").textContent = "Signed in";
    $("login-text").textContent = `Signed in as ${who.role}. Opening your pages…`;
    document.body.dataset.state = "signed-in";
    location.replace(who.role === "admin" ? "/admin" : "/interviews");
  } catch (err) {
    if (err.code === "token_expired") {
      fail("This sign-in link no longer works", `${err.message}. Links work once and only for a few minutes.`);
    } else if (err.status === 401 || err.status === 422) {
      fail("This sign-in link is not valid", "It may have been cut short when it was copied, or it was made for another gateway.");
    } else {
      fail("Could not sign in", `The gateway answered: ${err.message}. Try the link again in a moment.`);
    }
  }
}

signIn();
